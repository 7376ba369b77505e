import test from 'ava';
import {
  arrayOf,
  boolean,
  describe,
  email,
  integer,
  integerString,
  isoTime,
  jsonSchemaOf,
  NO_NUL,
  NOT_BLANK,
  nullable,
  number,
  object,
  oneOf,
  partialObject,
  patternOf,
  record,
  string,
  uuid,
  withSchema,
  type Validator,
} from './validation.ts';
import {
  commandHeaders,
  IDEMPOTENT_REPLAYED,
  openApiDocument,
  openApiPath,
  requiredParam,
  type ApiOperation,
  type OpenApiDocument,
} from './openapi.ts';
import { profileApi, profileTags } from './profile/api.ts';
import { operationsApi, operationsTags } from './operations/api.ts';

test('string: lengths, pattern source and format; trimming is not a schema matter; no U+0000', (t) => {
  t.deepEqual(jsonSchemaOf(string({ min: 1, max: 80, pattern: /^[a-z]+$/, format: 'hostname' })), {
    type: 'string',
    minLength: 1,
    maxLength: 80,
    pattern: '^[a-z]+$',
    format: 'hostname',
  });
  // The text rule, where the field has no pattern of its own.
  t.deepEqual(jsonSchemaOf(string({ trim: false })), { type: 'string', pattern: NO_NUL });
  t.false(new RegExp(NO_NUL).test('a\u0000b'));
  t.true(new RegExp(NO_NUL).test('any text 😀'));
});

test('oneOf, integer, number, boolean, integerString', (t) => {
  t.deepEqual(jsonSchemaOf(oneOf(['a', 'b'])), { type: 'string', enum: ['a', 'b'] });
  t.deepEqual(jsonSchemaOf(integer({ min: 0, max: 9 })), { type: 'integer', minimum: 0, maximum: 9 });
  t.deepEqual(jsonSchemaOf(integer()), { type: 'integer' });
  t.deepEqual(jsonSchemaOf(number({ min: 0.5 })), { type: 'number', minimum: 0.5 });
  t.deepEqual(jsonSchemaOf(boolean()), { type: 'boolean' });
  t.deepEqual(jsonSchemaOf(integerString({ min: 1, max: 200 })), {
    type: 'integer',
    minimum: 1,
    maximum: 200,
  });
});

test('uuid and isoTime carry their formats; email its pattern only', (t) => {
  t.like(jsonSchemaOf(uuid()), { type: 'string', format: 'uuid' });
  t.like(jsonSchemaOf(isoTime()), { type: 'string', format: 'date-time' });
  const mail = jsonSchemaOf(email());
  t.like(mail, { type: 'string', maxLength: 254 });
  // Validators of `format: email` disagree with the grammar (a leading dot in the local part, say).
  t.false('format' in mail);
  t.true(
    new RegExp(mail.pattern as string).test('Ada@Example.org'),
    'the pattern takes what the validator takes',
  );
});

test('nullable: the type widened with null, null added to an enum, anyOf otherwise', (t) => {
  t.deepEqual(jsonSchemaOf(nullable(string({ max: 5 }))), {
    type: ['string', 'null'],
    maxLength: 5,
    pattern: NO_NUL,
  });
  t.deepEqual(jsonSchemaOf(nullable(oneOf(['a']))), { type: ['string', 'null'], enum: ['a', null] });
  const named = describe(object({ a: integer() }), { title: 'Thing' });
  t.deepEqual(jsonSchemaOf(nullable(named)), { anyOf: [jsonSchemaOf(named), { type: 'null' }] });
  t.deepEqual(jsonSchemaOf(nullable((() => ({ ok: true, value: 1 })) as Validator<number>)), {});
});

test('arrayOf, object, partialObject, record', (t) => {
  t.deepEqual(jsonSchemaOf(arrayOf(integer(), { max: 3 })), {
    type: 'array',
    items: { type: 'integer' },
    maxItems: 3,
  });
  t.deepEqual(jsonSchemaOf(object({ a: integer(), b: boolean() })), {
    type: 'object',
    properties: { a: { type: 'integer' }, b: { type: 'boolean' } },
    required: ['a', 'b'],
    additionalProperties: false,
  });
  t.deepEqual(jsonSchemaOf(partialObject({ a: integer() })), {
    type: 'object',
    properties: { a: { type: 'integer' } },
    additionalProperties: false,
  });
  t.deepEqual(jsonSchemaOf(record(integer(), { keys: oneOf(['x', 'y']), max: 2 })), {
    type: 'object',
    additionalProperties: { type: 'integer' },
    propertyNames: { type: 'string', enum: ['x', 'y'] },
    maxProperties: 2,
  });
});

test('a validator written by hand has the empty schema', (t) => {
  const even: Validator<number> = (input, path = '') =>
    typeof input === 'number' && input % 2 === 0
      ? { ok: true, value: input }
      : { ok: false, issues: [{ path, message: 'must be even' }] };
  t.deepEqual(jsonSchemaOf(even), {});
  t.deepEqual(jsonSchemaOf(object({ n: even })), {
    type: 'object',
    properties: { n: {} },
    required: ['n'],
    additionalProperties: false,
  });
});

test('describe annotates a copy: the validator it was given keeps its schema', (t) => {
  const base = string({ max: 3 });
  const annotated = describe(base, { description: 'A code.', example: 'abc', default: 'x', title: 'Code' });
  t.deepEqual(jsonSchemaOf(annotated), {
    title: 'Code',
    type: 'string',
    maxLength: 3,
    pattern: NO_NUL,
    description: 'A code.',
    default: 'x',
    examples: ['abc'],
  });
  t.deepEqual(jsonSchemaOf(base), { type: 'string', maxLength: 3, pattern: NO_NUL });
  t.like(jsonSchemaOf(describe(annotated, { example: 'def' })), {
    description: 'A code.',
    examples: ['def'],
  });
});

test('patterns with the i flag are spelled out case by case, and match the same strings', (t) => {
  const cases: [RegExp, string[]][] = [
    [
      /^https:\/\/[^\s/$.?#].[^\s]*$/i,
      ['https://x.org', 'HTTPS://X.ORG', 'Https://a', 'http://x', 'https:// x'],
    ],
    [/^[a-f0-9]{2}-[^xyz]\d$/i, ['aF-q1', 'AF-X1', 'zz-q1', '0a-b9', 'ab-Y2']],
    [/^(?<word>ab)(?:c|d)+\.\s\w$/i, ['abcd. x', 'ABCD. X', 'abe. x', 'AbDc.\tq', 'abc.x']],
    [/^[a-zA-Z]+$/i, ['aZ', 'Zz', '1']],
    // A code unit by number that is not a letter means the same with or without the flag.
    // eslint-disable-next-line no-control-regex -- U+0000 is what the pattern refuses
    [/^h[^\s\u0000]\x2d$/i, ['hb-', 'Hb-', 'h\u0000-', 'hb+']],
  ];
  for (const [re, inputs] of cases) {
    const converted = new RegExp(patternOf(re), re.flags.replace('i', ''));
    for (const s of inputs) t.is(converted.test(s), re.test(s), `${re} on ${s}: ${converted}`);
  }
  t.is(patternOf(/^ab$/), '^ab$');
  t.throws(() => patternOf(/^a$/m), { message: /flag m/ });
  t.throws(() => patternOf(/[A-z]/i), { message: /across cases/ });
  for (const re of [/^\x41$/i, /^\u00e9$/i, /^\p{Lu}$/iu, /^(a)\1$/i, /^(?<w>a)\k<w>$/i])
    t.throws(() => patternOf(re), { message: /escape/ }, String(re));
});

test('openApiPath: express parameters become templates', (t) => {
  t.deepEqual(openApiPath('/api/admin/experience-levels/:code'), {
    path: '/api/admin/experience-levels/{code}',
    params: ['code'],
  });
  t.deepEqual(openApiPath('/.well-known/jwks.json'), { path: '/.well-known/jwks.json', params: [] });
  for (const unsupported of ['/api/*rest', '/api/:id?', '/api{/:id}', 'api/x', '/api/x/'])
    t.throws(() => openApiPath(unsupported), undefined, unsupported);
});

const thing = describe(object({ code: string({ min: 1 }), size: integer() }), { title: 'Thing' });
const base: ApiOperation = {
  method: 'get',
  path: '/api/things/:code',
  operationId: 'getThing',
  summary: 'Read a thing',
  tags: ['things'],
  security: 'bearer',
  params: { code: describe(string({ min: 1 }), { description: 'Its code.' }) },
  responses: { 200: { description: 'The thing.', body: thing, headers: { ETag: 'Its revision.' } } },
};
const doc = (ops: readonly ApiOperation[]): OpenApiDocument =>
  openApiDocument({ title: 'Test', version: '1' }, ops, { things: 'Things.' });
const problemRef = { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } };

test('a document: paths, parameters, named schemas, bearer security, tags', (t) => {
  const d = doc([base]);
  t.is(d.openapi, '3.1.0');
  t.deepEqual(d.tags, [{ name: 'things', description: 'Things.' }]);
  const op = d.paths['/api/things/{code}']?.get;
  t.truthy(op);
  t.deepEqual(op!.security, [{ bearerAuth: [] }]);
  t.deepEqual(op!.parameters, [
    {
      name: 'code',
      in: 'path',
      required: true,
      description: 'Its code.',
      schema: { type: 'string', minLength: 1, pattern: NOT_BLANK },
    },
  ]);
  t.deepEqual(op!.responses['200'], {
    description: 'The thing.',
    headers: { ETag: { description: 'Its revision.', schema: { type: 'string' } } },
    content: { 'application/json': { schema: { $ref: '#/components/schemas/Thing' } } },
  });
  t.deepEqual(d.components.schemas.Thing, jsonSchemaOf(thing));
  t.like(d.components.securitySchemes.bearerAuth, { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
});

test('a document: every error status is a problem+json answer; security and bodies add theirs', (t) => {
  const d = doc([
    {
      ...base,
      method: 'post',
      operationId: 'changeThing',
      security: { roles: ['admin', 'author'] },
      headers: { ...commandHeaders, 'X-Must': requiredParam(string()) },
      body: thing,
      errors: [409, { status: 404, description: 'No such thing (`thing_not_found`).' }, 423, 429],
    },
  ]);
  const op = d.paths['/api/things/{code}']?.post;
  t.deepEqual(Object.keys(op!.responses), [
    '200',
    '400',
    '401',
    '403',
    '404',
    '409',
    '413',
    '422',
    '423',
    '429',
  ]);
  for (const status of ['400', '401', '403', '404', '409', '413', '422', '423', '429'])
    t.deepEqual(op!.responses[status]?.content, problemRef, status);
  t.is(op!.responses['404']?.description, 'No such thing (`thing_not_found`).');
  for (const status of ['423', '429']) t.truthy(op!.responses[status]?.headers?.['Retry-After'], status);
  // A write's 409 may be an Idempotency-Key still in flight, which says when to retry.
  t.truthy(op!.responses['409']?.headers?.['Retry-After']);
  t.regex(op!.responses['409']?.description ?? '', /^The request conflicts.*idempotency_key_in_flight/s);
  t.deepEqual(op!['x-roles'], ['admin', 'author']);
  t.regex(op!.description ?? '', /Requires the roles: admin or author\./);
  t.deepEqual(op!.requestBody, {
    required: true,
    content: { 'application/json': { schema: { $ref: '#/components/schemas/Thing' } } },
  });
  t.deepEqual(
    op!.parameters?.map((p) => [p.name, p.in, p.required]),
    [
      ['code', 'path', true],
      ['If-Match', 'header', false],
      ['X-Must', 'header', true],
      ['Idempotency-Key', 'header', false],
    ],
  );
  t.like(d.components.schemas.Problem, {
    type: 'object',
    required: ['type', 'title', 'status', 'code', 'instance'],
  });
});

test('a document: an open operation has no security and no 401', (t) => {
  const d = doc([{ ...base, security: 'none' }]);
  const op = d.paths['/api/things/{code}']?.get;
  t.deepEqual(op!.security, []);
  // A path parameter can be malformed: 400 is the only error left.
  t.deepEqual(Object.keys(op!.responses), ['200', '400']);
  t.deepEqual(d.components.securitySchemes, {});
  const bare = doc([{ ...base, path: '/api/things', params: {}, security: 'none' }]);
  t.deepEqual(Object.keys(bare.paths['/api/things']!.get!.responses), ['200']);
  t.false('Problem' in bare.components.schemas, 'no unused components');
});

test('a document: a key in a header is an alternative to the bearer token', (t) => {
  const apiKey = { name: 'thingKey', header: 'X-Thing-Key', description: 'A key for servers.' };
  const d = doc([{ ...base, apiKey }]);
  const op = d.paths['/api/things/{code}']?.get;
  t.deepEqual(op!.security, [{ bearerAuth: [] }, { thingKey: [] }], 'either one, not both');
  t.deepEqual(d.components.securitySchemes.thingKey, {
    type: 'apiKey',
    in: 'header',
    name: 'X-Thing-Key',
    description: 'A key for servers.',
  });
  t.truthy(op!.responses['401']);
  t.throws(() => doc([{ ...base, security: 'none', apiKey }]), { message: /open to anyone/ });
  t.throws(() => doc([{ ...base, apiKey, headers: { 'x-thing-key': string() } }]), {
    message: /described twice/,
  });
  t.throws(
    () =>
      doc([
        { ...base, apiKey },
        { ...base, method: 'put', operationId: 'putThing', apiKey: { ...apiKey, header: 'X-Other' } },
      ]),
    { message: /two different security schemes are named 'thingKey'/ },
  );
});

test('a document refuses what it cannot describe truthfully', (t) => {
  t.throws(() => doc([base, { ...base, method: 'put' }]), {
    message: /operationId 'getThing' is used twice/,
  });
  t.throws(() => doc([base, { ...base, operationId: 'again' }]), { message: /described twice/ });
  t.throws(() => doc([{ ...base, params: {} }]), { message: /path parameters/ });
  t.throws(() => doc([{ ...base, responses: {} }]), { message: /success response/ });
  t.throws(() => doc([{ ...base, responses: { ...base.responses, 404: { description: 'x' } } }]), {
    message: /list it in errors/,
  });
  t.throws(() => doc([{ ...base, errors: [{ status: 200, description: 'x' }] }]), {
    message: /not an error/,
  });
  t.throws(() => doc([{ ...base, errors: [418] }]), { message: /describe what 418 means/ });
  t.throws(() => doc([{ ...base, headers: { Authorization: string() } }]), { message: /Authorization/ });
  t.throws(() => doc([{ ...base, tags: [] }]), { message: /needs a tag/ });
  const other = describe(object({ code: string() }), { title: 'Thing' });
  t.throws(() => doc([base, { ...base, operationId: 'putThing', method: 'put', body: other }]), {
    message: /two different schemas are titled 'Thing'/,
  });
});

test('a document: every write takes an Idempotency-Key and may answer 409, 422 or a replay, from one place', (t) => {
  const reads = doc([base]).paths['/api/things/{code}']!.get!;
  t.false(
    reads.parameters!.some((p) => p.name === 'Idempotency-Key'),
    'reads take no key',
  );
  for (const method of ['post', 'put', 'patch', 'delete'] as const) {
    const op = doc([{ ...base, method, operationId: `${method}Thing` }]).paths['/api/things/{code}']![
      method
    ]!;
    const key = op.parameters!.find((p) => p.name === 'Idempotency-Key');
    t.like(key, { in: 'header', required: false, schema: { pattern: '^[A-Za-z0-9._:-]{1,128}$' } }, method);
    t.regex(
      key!.description ?? '',
      /scoped to the caller.*fingerprint.*24 h.*idempotency_key_reused.*idempotency_key_in_flight/s,
    );
    t.regex(op.responses['422']!.description, /idempotency_key_reused/, method);
    t.regex(op.responses['409']!.description, /idempotency_key_in_flight/, method);
    t.regex(op.responses['400']!.description, /invalid_idempotency_key/, method);
    t.deepEqual(op.responses['200']!.headers?.[IDEMPOTENT_REPLAYED]?.schema, { const: 'true' }, method);
    t.truthy(op.responses['200']!.headers?.ETag, 'its own headers stay');
  }
  t.throws(() => doc([{ ...base, method: 'post', headers: { 'idempotency-key': string() } }]), {
    message: /Idempotency-Key is described by the document/,
  });
});

test('a document: parameters that only make sense together are one exploded object', (t) => {
  const filter = withSchema(() => ({ ok: true, value: {} }), {
    type: 'object',
    properties: { a: { type: 'string' }, b: { type: 'string' } },
    anyOf: [{ required: ['a'] }, { required: ['b'] }],
  });
  const d = doc([
    { ...base, path: '/api/things', params: {}, queryObject: { name: 'filter', schema: filter } },
  ]);
  t.like(d.paths['/api/things']!.get!.parameters![0], {
    name: 'filter',
    in: 'query',
    required: true,
    style: 'form',
    explode: true,
    schema: { anyOf: [{ required: ['a'] }, { required: ['b'] }] },
  });
});

test("profile's and operations' documents build, with every route of theirs", (t) => {
  const d = openApiDocument({ title: 'Lectern', version: '1' }, [...profileApi, ...operationsApi], {
    ...profileTags,
    ...operationsTags,
  });
  const routes = Object.entries(d.paths).flatMap(([path, item]) =>
    Object.keys(item).map((m) => `${m} ${path}`),
  );
  t.deepEqual(routes.sort(), [
    'delete /api/admin/experience-levels/{code}',
    'get /api/admin/experience-levels',
    'get /api/admin/projections',
    'get /api/admin/projections/{name}/diff',
    'get /api/admin/projections/{name}/explain',
    'get /api/experience-levels',
    'get /api/profile',
    'get /api/profile/history',
    'patch /api/admin/experience-levels/{code}',
    'post /api/admin/experience-levels',
    'post /api/admin/projections/{name}/audit',
    'post /api/admin/projections/{name}/rebuild',
    'post /api/profile/avatar',
    'post /api/profile/avatar/presign',
    'put /api/profile',
  ]);
  t.deepEqual(
    d.tags.map((tag) => tag.name),
    ['profile', 'experience-levels', 'operations'],
  );
  for (const tag of d.tags) t.truthy(tag.description, tag.name);
});

test('the diff takes a position (at) as an integer query parameter; the status shows the work in flight', (t) => {
  const d = openApiDocument({ title: 'Lectern', version: '1' }, operationsApi, operationsTags);
  const diff = d.paths['/api/admin/projections/{name}/diff']!.get!;
  const at = diff.parameters!.find((p) => p.name === 'at');
  t.like(at, { in: 'query', required: false, schema: { type: 'integer', minimum: 0 } });
  t.truthy(diff.responses['400'], 'a malformed or too high position is documented');
  const work = d.components.schemas.ProjectionWork as { required: string[] };
  t.deepEqual(work.required.slice().sort(), [
    'action',
    'eventsPerSecond',
    'eventsRead',
    'headPosition',
    'phase',
    'position',
    'seconds',
  ]);
});
