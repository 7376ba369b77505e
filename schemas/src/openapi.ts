/**
 * OpenAPI 3.1 documents built from the validators the routes use: each
 * context lists its operations (`ApiOperation`) next to its schemas, and
 * `openApiDocument` turns the lists into one document. What a handler
 * accepts and what the document says it accepts are then the same function.
 */
import { describe, jsonSchemaOf, string, type JsonSchema, type Validator } from './validation.ts';

export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

/** Who may call an operation: anyone, any signed-in user, or holders of one of the roles. */
export type ApiSecurity = 'none' | 'bearer' | Readonly<{ roles: readonly string[] }>;

/**
 * A key that a server-side caller sends in a header, accepted by an
 * operation instead of a bearer token: `name` names the security scheme
 * (one definition per name across the document).
 */
export type ApiKeyScheme = Readonly<{ name: string; header: string; description: string }>;

export type ApiResponse = Readonly<{
  description: string;
  body?: Validator<unknown>;
  /**
   * Bodies that are not JSON, such as a file download: media type → the
   * JSON Schema of the body (`{ type: 'string' }` for text, with
   * `format: 'binary'` for bytes).
   */
  content?: Readonly<Record<string, JsonSchema>>;
  /** Response headers: name → what it carries. */
  headers?: Readonly<Record<string, string>>;
}>;

/**
 * A problem+json status the operation can answer: a bare status gets the
 * generic description below; an object says what it means for this operation
 * (which `code`s, typically).
 */
export type ApiError = number | Readonly<{ status: number; description: string }>;

/**
 * One route, described from the validators it runs.
 *
 * @example
 *   const getLevels: ApiOperation = {
 *     method: 'get', path: '/api/experience-levels', operationId: 'listExperienceLevels',
 *     summary: 'List active experience levels', tags: ['profile'], security: 'bearer',
 *     responses: { 200: { description: 'Active levels by rank.', body: levelList } },
 *   };
 */
export type ApiOperation = Readonly<{
  method: HttpMethod;
  /** Express style: `/api/admin/experience-levels/:code`. */
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  tags: readonly string[];
  /** `bearer` adds 401; roles add 401 and 403 and name the roles. */
  security: ApiSecurity;
  /** A key in a header that the operation accepts instead of the bearer token (OpenAPI's either-or). */
  apiKey?: ApiKeyScheme;
  /** Path parameters, all required. */
  params?: Readonly<Record<string, Validator<unknown>>>;
  /** Query parameters, optional unless wrapped in `requiredParam`. */
  query?: Readonly<Record<string, Validator<unknown>>>;
  /**
   * Query parameters that only make sense together (one of several is
   * required, say): described as one object under `name`, sent exploded
   * (`?email=…&phone=…`), which is how OpenAPI says what individual
   * parameters cannot. Always required.
   */
  queryObject?: Readonly<{ name: string; schema: Validator<unknown> }>;
  /** Request headers (If-Match, Idempotency-Key, X-Consistency-Token…), optional unless `requiredParam`. */
  headers?: Readonly<Record<string, Validator<unknown>>>;
  /** A JSON body; adds 400 (malformed or invalid) and 413 (too large). */
  body?: Validator<unknown>;
  responses: Readonly<Record<number, ApiResponse>>;
  /** Problem+json statuses this operation can answer (400, 404, 409, 412, 423, 429…). */
  errors?: readonly ApiError[];
}>;

type ParameterObject = Readonly<{
  name: string;
  in: 'path' | 'query' | 'header';
  required: boolean;
  description?: string;
  style?: 'form';
  explode?: true;
  schema: JsonSchema;
}>;

type ResponseObject = Readonly<{
  description: string;
  headers?: Readonly<Record<string, Readonly<{ description: string; schema: JsonSchema }>>>;
  content?: Readonly<Record<string, Readonly<{ schema: JsonSchema }>>>;
}>;

export type OperationObject = Readonly<{
  operationId: string;
  summary: string;
  description?: string;
  tags: readonly string[];
  security: readonly Readonly<Record<string, readonly string[]>>[];
  /** The roles of which the caller needs one. */
  'x-roles'?: readonly string[];
  parameters?: readonly ParameterObject[];
  requestBody?: Readonly<{
    required: true;
    content: Readonly<Record<string, Readonly<{ schema: JsonSchema }>>>;
  }>;
  responses: Readonly<Record<string, ResponseObject>>;
}>;

export type OpenApiDocument = Readonly<{
  openapi: '3.1.0';
  info: Readonly<{
    title: string;
    version: string;
    description: string;
    contact: Readonly<{ name: string; url: string }>;
  }>;
  servers: readonly Readonly<{ url: string; description: string }>[];
  tags: readonly Readonly<{ name: string; description?: string }>[];
  paths: Readonly<Record<string, Readonly<Partial<Record<HttpMethod, OperationObject>>>>>;
  components: Readonly<{
    schemas: Readonly<Record<string, JsonSchema>>;
    securitySchemes: Readonly<Record<string, JsonSchema>>;
  }>;
}>;

const required = new WeakSet<object>();

/** Marks a query parameter or request header as required (path parameters always are). */
export const requiredParam = <V extends Validator<unknown>>(validator: V): V => {
  required.add(validator);
  return validator;
};

/** Request headers of commands that change a versioned resource (optimistic concurrency). */
export const commandHeaders = {
  'If-Match': describe(string({ pattern: /^(?:(?:W\/)?"-?[0-9]{1,15}"|\*)$/ }), {
    description:
      'The `ETag` of the revision the change was made against: a revision number in double quotes (`"3"`), ' +
      'as the `ETag` of a read or a command answered it (a weak `W/"3"` is read the same), or `*`. 412 ' +
      '`revision_mismatch` when it is no longer the current revision; 400 `invalid_if_match` when it is not ' +
      'of this form. Without it (or with `*`) the command applies to whatever revision is current.',
    example: '"3"',
  }),
} as const;

/** How long an answer is kept for replay under its `Idempotency-Key`. */
export const IDEMPOTENCY_KEY_HOURS = 24;

/**
 * `Idempotency-Key`, which every write operation (POST, PUT, PATCH, DELETE)
 * takes: the document adds it, and its answers, to each of them from here,
 * so that no operation describes it differently (ARCHITECTURE rule 9).
 */
export const idempotencyKeyHeader = describe(string({ pattern: /^[A-Za-z0-9._:-]{1,128}$/, trim: false }), {
  description:
    "Makes a retried request the same request. The key is scoped to the caller (the access token's " +
    'subject; on a route open to anyone, the route and the client address) and bound to a fingerprint of ' +
    'the request: its method, path and query, canonical JSON body and `If-Match`. The first answer is kept ' +
    `${IDEMPOTENCY_KEY_HOURS} h (across processes and restarts): the same key with the same request answers ` +
    'it again, without deciding again, with the same status, body, `ETag` and `X-Consistency-Token` and ' +
    '`Idempotent-Replayed: true`. The same key with another request is 422 `idempotency_key_reused`; while ' +
    'the first request is still running, 409 `idempotency_key_in_flight`. A 5xx, 429 or 401 answer is not kept, so ' +
    'a retry runs again. 1 to 128 letters, digits, `.`, `_`, `:` or `-` (400 `invalid_idempotency_key` ' +
    'otherwise); a UUID per logical request is a good key.',
  example: '6f1c2a0e-5a7b-4c19-9d1e-3b8f0c2d4e5a',
});

/** The response header that marks an answer replayed under an `Idempotency-Key`. */
export const IDEMPOTENT_REPLAYED = 'Idempotent-Replayed';

const WRITE_METHODS: readonly HttpMethod[] = ['post', 'put', 'patch', 'delete'];

/** Request headers of queries over read models. */
export const queryHeaders = {
  'X-Consistency-Token': describe(string({ pattern: /^[0-9]{1,15}$/ }), {
    description:
      'The `X-Consistency-Token` a command answered: the query waits (up to 3 s) until its read model has ' +
      'caught up with that write, and says in `X-Consistency` whether it did. Decimal digits only (400 ' +
      '`invalid_consistency_token` otherwise).',
    example: '1042',
  }),
} as const;

/** What every command answers besides its body. */
export const commandResponseHeaders = {
  ETag: 'The stream revision after the command, as a strong ETag (`"4"`): send it back as `If-Match`.',
  'X-Consistency-Token':
    'The global position of the last event written: send it with a query to read this write.',
} as const;

/** What a query that was sent `X-Consistency-Token` answers besides its body. */
export const queryResponseHeaders = {
  'X-Consistency':
    '`caught-up` when the read model reached the token, `stale` when the wait ran out (the data is then ' +
    'older than the write). Absent without a token.',
} as const;

const genericErrors: Readonly<Record<number, string>> = {
  400: 'The request is not valid. `validation_failed` lists every problem in `errors[]` with a JSON pointer (text must be valid Unicode without U+0000, and no object may have a `__proto__`, `constructor` or `prototype` key); `malformed_json` and `unsupported_media_type` concern the body as a whole; `invalid_if_match`, `invalid_consistency_token` and `invalid_idempotency_key` name a malformed header.',
  401: 'No valid access token: `token_missing`, `token_invalid`, `token_expired` or `token_unknown_key`.',
  403: 'The access token lacks a role this operation needs (`forbidden`).',
  404: 'Not found.',
  409: 'The request conflicts with the current state.',
  412: 'The `If-Match` revision is not the current one (`revision_mismatch`): read again, then retry.',
  413: 'The request body is larger than the server accepts (`payload_too_large`).',
  423: 'Locked for a while; `Retry-After` says how long.',
  429: 'Too many requests; `Retry-After` says when to try again.',
  503: 'A dependency is unavailable; try again later.',
};

const replayedHeader =
  '`true` when this is the stored answer of an earlier request with the same `Idempotency-Key` (its status, ' +
  'body, `ETag` and `X-Consistency-Token`); absent on a first answer.';

/** What every write may answer because of its `Idempotency-Key`, besides its own errors. */
const idempotencyErrors: Readonly<Record<number, string>> = {
  409:
    '`idempotency_key_in_flight`: a request with this `Idempotency-Key` is still running; retry after ' +
    '`Retry-After` to get its answer.',
  422: '`idempotency_key_reused`: this `Idempotency-Key` was used for another request; use a new key.',
};

const retryAfter = {
  description: 'Seconds to wait before trying again.',
  schema: { type: 'integer', minimum: 0 },
} as const;

const problemSchema: JsonSchema = {
  title: 'Problem',
  type: 'object',
  description:
    'An error as RFC 9457 problem details (`application/problem+json`), with a stable `code` that clients ' +
    'branch on; `title` is for people and may change.',
  required: ['type', 'title', 'status', 'code', 'instance'],
  properties: {
    type: {
      type: 'string',
      format: 'uri',
      description: 'Names the kind of problem: `https://lectern.dev/problems/<code>`.',
    },
    title: { type: 'string', description: 'What went wrong, for people.' },
    status: { type: 'integer', minimum: 400, maximum: 599, description: 'The HTTP status.' },
    code: {
      type: 'string',
      pattern: '^[a-z][a-z0-9_]*$',
      description: 'Stable and machine-readable, such as `validation_failed` or `revision_mismatch`.',
    },
    instance: { type: 'string', description: 'The path of the request that failed.' },
    errors: {
      type: 'array',
      description: 'With `validation_failed`: every problem found, not only the first.',
      items: {
        type: 'object',
        required: ['path', 'message'],
        properties: {
          path: {
            type: 'string',
            description: 'A JSON pointer to the offending value (`/socialLinks/github`).',
          },
          message: { type: 'string', description: 'What is wrong with it.' },
        },
      },
    },
  },
  examples: [
    {
      type: 'https://lectern.dev/problems/validation_failed',
      title: 'The request is not valid.',
      status: 400,
      code: 'validation_failed',
      instance: '/api/profile',
      errors: [{ path: '/displayName', message: 'must be at most 80 characters' }],
    },
  ],
};

const bearerScheme: JsonSchema = {
  type: 'http',
  scheme: 'bearer',
  bearerFormat: 'JWT',
  description:
    "An access token issued by identity: a JWT of `typ` `at+jwt`, signed with an asymmetric key from identity's " +
    'JWKS (`/.well-known/jwks.json`), with `iss`, `aud`, `exp` and `nbf` checked. Roles come from its `roles` claim.',
};

const COMPONENT_NAME = /^[A-Za-z0-9._-]+$/;

/**
 * Moves every titled schema into `components.schemas` and refers to it, so
 * that generated clients get named types. One title, one schema: two
 * different schemas under the same title are an error, not a silent pick.
 */
export const hoister = () => {
  const components = new Map<string, { json: string; schema: JsonSchema }>();
  const hoist = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(hoist);
    if (typeof value !== 'object' || value === null) return value;
    const entries = Object.entries(value).map(([k, v]) => [
      k,
      k === 'examples' || k === 'default' ? v : hoist(v),
    ]);
    const schema = Object.fromEntries(entries) as JsonSchema;
    const title = schema.title;
    if (typeof title !== 'string') return schema;
    if (!COMPONENT_NAME.test(title)) throw new Error(`schema title '${title}' cannot name a component`);
    const json = JSON.stringify(schema);
    const seen = components.get(title);
    if (seen && seen.json !== json) throw new Error(`two different schemas are titled '${title}'`);
    components.set(title, { json, schema });
    return { $ref: `#/components/schemas/${title}` };
  };
  return {
    hoist: (schema: JsonSchema) => hoist(schema) as JsonSchema,
    components: () =>
      Object.fromEntries(
        [...components.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([name, c]) => [name, c.schema]),
      ),
  };
};

const PATH = /^(?:\/(?:[A-Za-z0-9._~-]+|:[A-Za-z_][A-Za-z0-9_]*))+$/;

/** `/api/levels/:code` → `/api/levels/{code}` and the names of its parameters. */
export const openApiPath = (expressPath: string): { path: string; params: string[] } => {
  if (!PATH.test(expressPath))
    throw new Error(`path '${expressPath}': only literal segments and ':name' parameters can be described`);
  const params: string[] = [];
  const path = expressPath.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, (_, name: string) => {
    params.push(name);
    return `{${name}}`;
  });
  return { path, params };
};

const RESERVED_HEADERS = ['accept', 'content-type', 'authorization'];

/**
 * The OpenAPI 3.1 document of a set of operations: paths from the express
 * routes, schemas from the validators, a shared `Problem` schema for every
 * error status, a bearer JWT scheme, declared tags.
 *
 * @example
 *   const doc = openApiDocument({ title: 'Lectern API', version: '1' }, [...profileApi], { profile: 'Profiles.' });
 */
export const openApiDocument = (
  info: Readonly<{ title: string; version: string; description?: string }>,
  operations: readonly ApiOperation[],
  tagDescriptions: Readonly<Record<string, string>> = {},
): OpenApiDocument => {
  const { hoist, components } = hoister();
  const paths: Record<string, Partial<Record<HttpMethod, OperationObject>>> = {};
  const operationIds = new Set<string>();
  const tags: string[] = [];
  const apiKeySchemes = new Map<string, { json: string; scheme: JsonSchema }>();

  for (const op of operations) {
    const where = `${op.method.toUpperCase()} ${op.path}`;
    if (operationIds.has(op.operationId)) throw new Error(`operationId '${op.operationId}' is used twice`);
    operationIds.add(op.operationId);
    const { path, params } = openApiPath(op.path);
    const item = (paths[path] ??= {});
    if (item[op.method]) throw new Error(`${where} is described twice`);
    const declared = Object.keys(op.params ?? {});
    if ([...params].sort().join() !== [...declared].sort().join())
      throw new Error(`${where}: path parameters ${params.join(', ')} but params ${declared.join(', ')}`);
    if (!op.tags.length) throw new Error(`${where}: an operation needs a tag`);
    if (op.apiKey) {
      const { name, header, description } = op.apiKey;
      if (op.security === 'none') throw new Error(`${where}: an operation open to anyone takes no key`);
      if (!COMPONENT_NAME.test(name) || name === 'bearerAuth')
        throw new Error(`${where}: '${name}' cannot name a security scheme`);
      const lower = header.toLowerCase();
      if (
        RESERVED_HEADERS.includes(lower) ||
        Object.keys(op.headers ?? {}).some((h) => h.toLowerCase() === lower)
      )
        throw new Error(`${where}: the key's header ${header} is described twice`);
      const scheme: JsonSchema = { type: 'apiKey', in: 'header', name: header, description };
      const json = JSON.stringify(scheme);
      const seen = apiKeySchemes.get(name);
      if (seen && seen.json !== json) throw new Error(`two different security schemes are named '${name}'`);
      apiKeySchemes.set(name, { json, scheme });
    }
    for (const tag of op.tags) if (!tags.includes(tag)) tags.push(tag);

    const parameter = (
      name: string,
      place: ParameterObject['in'],
      v: Validator<unknown>,
    ): ParameterObject => {
      if (place === 'header' && RESERVED_HEADERS.includes(name.toLowerCase()))
        throw new Error(`${where}: header ${name} is described by the document itself, not as a parameter`);
      // The description belongs to the parameter (where readers and linters look for it).
      const { description, ...schema } = hoist(jsonSchemaOf(v));
      return {
        name,
        in: place,
        required: place === 'path' || required.has(v),
        ...(typeof description === 'string' ? { description } : {}),
        schema,
      };
    };
    const write = WRITE_METHODS.includes(op.method);
    if (Object.keys(op.headers ?? {}).some((h) => h.toLowerCase() === 'idempotency-key'))
      throw new Error(
        `${where}: Idempotency-Key is described by the document for every write, not per operation`,
      );
    if (op.queryObject && Object.hasOwn(op.query ?? {}, op.queryObject.name))
      throw new Error(`${where}: query parameter ${op.queryObject.name} is described twice`);
    const parameters = [
      ...Object.entries(op.params ?? {}).map(([n, v]) => parameter(n, 'path', v)),
      ...Object.entries(op.query ?? {}).map(([n, v]) => parameter(n, 'query', v)),
      ...(op.queryObject
        ? [
            {
              ...parameter(op.queryObject.name, 'query', op.queryObject.schema),
              required: true,
              style: 'form' as const,
              explode: true as const,
            },
          ]
        : []),
      ...Object.entries(op.headers ?? {}).map(([n, v]) => parameter(n, 'header', v)),
      ...(write ? [parameter('Idempotency-Key', 'header', idempotencyKeyHeader)] : []),
    ];

    const responses: Record<string, ResponseObject> = {};
    for (const [status, r] of Object.entries(op.responses)) {
      if (Number(status) >= 400) throw new Error(`${where}: ${status} is an error: list it in errors`);
      const headers = {
        ...r.headers,
        ...(write ? { [IDEMPOTENT_REPLAYED]: replayedHeader } : {}),
      };
      responses[status] = {
        description: r.description,
        ...(Object.keys(headers).length
          ? {
              headers: Object.fromEntries(
                Object.entries(headers).map(([name, description]) => [
                  name,
                  {
                    description,
                    schema: name === IDEMPOTENT_REPLAYED ? { const: 'true' } : { type: 'string' },
                  },
                ]),
              ),
            }
          : {}),
        ...(r.body || r.content
          ? {
              content: {
                ...(r.body ? { 'application/json': { schema: hoist(jsonSchemaOf(r.body)) } } : {}),
                ...Object.fromEntries(
                  Object.entries(r.content ?? {}).map(([type, schema]) => [type, { schema: hoist(schema) }]),
                ),
              },
            }
          : {}),
      };
    }

    const errors = new Map<number, string>();
    const explicit = new Set<number>();
    const addError = (e: ApiError) => {
      const [status, description] = typeof e === 'number' ? [e, genericErrors[e]] : [e.status, e.description];
      if (status < 400 || status > 599) throw new Error(`${where}: ${status} is not an error status`);
      if (!description) throw new Error(`${where}: describe what ${status} means here`);
      if (typeof e === 'number') {
        if (!errors.has(status)) errors.set(status, description);
        return;
      }
      // An explicit description wins over the generic one added for security or a body;
      // several explicit ones of a status are all kept.
      const own = explicit.has(status) ? errors.get(status) : undefined;
      errors.set(status, own ? `${own} Or ${description}` : description);
      explicit.add(status);
    };
    if (op.body) [400, 413].forEach(addError);
    // Any input can be malformed, and every write takes an Idempotency-Key.
    if (write || op.queryObject || [op.params, op.query, op.headers].some((p) => Object.keys(p ?? {}).length))
      addError(400);
    if (op.security !== 'none') addError(401);
    if (typeof op.security === 'object') addError(403);
    (op.errors ?? []).forEach(addError);
    if (write)
      for (const [status, note] of Object.entries(idempotencyErrors)) {
        const own = errors.get(Number(status));
        errors.set(Number(status), own ? `${own} Or ${note}` : note);
      }
    for (const [status, description] of [...errors].sort(([a], [b]) => a - b)) {
      if (responses[status]) throw new Error(`${where}: ${status} is both a response and an error`);
      responses[status] = {
        description,
        ...(status === 429 || status === 423 || (status === 409 && write)
          ? { headers: { 'Retry-After': retryAfter } }
          : {}),
        content: { 'application/problem+json': { schema: hoist(problemSchema) } },
      };
    }
    if (!Object.keys(responses).some((s) => Number(s) < 400))
      throw new Error(`${where}: describe at least one success response`);

    const roles = typeof op.security === 'object' ? op.security.roles : [];
    const roleNote = roles.length
      ? `Requires the role${roles.length > 1 ? 's' : ''}: ${roles.join(' or ')}.`
      : '';
    const description = [op.description, roleNote].filter(Boolean).join('\n\n');
    item[op.method] = {
      operationId: op.operationId,
      summary: op.summary,
      ...(description ? { description } : {}),
      tags: [...op.tags],
      // OpenAPI 3.1 would let the requirement list role names, but linters (Spectral's
      // oas3-operation-security-defined) read them as undeclared OAuth scopes: the roles go
      // into the description and an `x-roles` extension instead.
      security:
        op.security === 'none' ? [] : [{ bearerAuth: [] }, ...(op.apiKey ? [{ [op.apiKey.name]: [] }] : [])],
      ...(roles.length ? { 'x-roles': [...roles] } : {}),
      ...(parameters.length ? { parameters } : {}),
      ...(op.body
        ? {
            requestBody: {
              required: true,
              content: { 'application/json': { schema: hoist(jsonSchemaOf(op.body)) } },
            },
          }
        : {}),
      responses,
    };
  }

  return {
    openapi: '3.1.0',
    info: {
      title: info.title,
      version: info.version,
      description:
        info.description ??
        'The HTTP API of Lectern. Errors are `application/problem+json` with a stable `code`. Every request may ' +
          'carry `X-Request-Id`, `X-Correlation-Id` and a W3C `traceparent`; every response echoes them.',
      contact: { name: 'Lectern engineering', url: 'https://lectern.dev' },
    },
    servers: [{ url: '/', description: 'The server that served this document.' }],
    tags: tags.map((name) => ({
      name,
      ...(tagDescriptions[name] ? { description: tagDescriptions[name] } : {}),
    })),
    paths: Object.fromEntries(Object.entries(paths).sort(([a], [b]) => a.localeCompare(b))),
    components: {
      schemas: components(),
      securitySchemes: {
        ...(operations.some((op) => op.security !== 'none') ? { bearerAuth: bearerScheme } : {}),
        ...Object.fromEntries([...apiKeySchemes].map(([name, s]) => [name, s.scheme])),
      },
    },
  };
};
