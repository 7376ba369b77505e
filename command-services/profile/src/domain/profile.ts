import { profile as schema } from '@lectern/schemas';
import { Problem } from '@lectern/infra/runtime/errors';
import { unknownEvent, type Decider } from '@lectern/infra/runtime/decider';

type Field = schema.ProfileField;
export type Fields = Readonly<Record<Field, string | null>>;

/** A profile exists from its first update; before that every field has its default. */
export type Profile =
  | Readonly<{ status: 'none'; fields: Fields }>
  | Readonly<{ status: 'active'; userId: string; fields: Fields; createdAt: string; updatedAt: string }>;

export const defaultFields: Fields = Object.fromEntries(
  schema.profileFieldNames.map((f) => [f, f === 'locale' ? 'en' : f === 'visibility' ? 'members' : null]),
) as Fields;

export type UpdateProfile = Readonly<{
  type: 'UpdateProfile';
  userId: string;
  changes: Readonly<Record<string, unknown>>;
  /** Codes of the experience levels that exist now: a lookup done by the handler. */
  knownExperienceLevels: readonly string[];
  at: string;
}>;
export type ProfileCommand = UpdateProfile;

export const initialState = (): Profile => ({ status: 'none', fields: defaultFields });

/** `{ socialLinks: { github: … } }` → `{ 'socialLinks.github': … }`, the unit of history. */
const flatten = (changes: Readonly<Record<string, unknown>>): Partial<Record<Field, string | null>> => {
  const out: Partial<Record<Field, string | null>> = {};
  for (const [key, value] of Object.entries(changes)) {
    if (key === 'socialLinks' && value && typeof value === 'object')
      for (const [provider, link] of Object.entries(value as Record<string, string | null>))
        out[`socialLinks.${provider}` as Field] = link;
    else out[key as Field] = value as string | null;
  }
  return out;
};

const update = (cmd: UpdateProfile, s: Profile): schema.ProfileStreamEvent[] => {
  const wanted = flatten(cmd.changes);
  const level = wanted.experienceLevel;
  if (level != null && !cmd.knownExperienceLevels.includes(level))
    throw new Problem('validation', 'unknown_experience_level', `There is no experience level '${level}'.`, {
      issues: [{ path: '/experienceLevel', message: 'is not a known experience level' }],
    });
  const changes = schema.profileFieldNames
    .filter((f) => f in wanted && wanted[f] !== s.fields[f])
    .map((field) => ({ field, from: s.fields[field], to: wanted[field] ?? null }));
  if (changes.length === 0) return [];
  const data: schema.ProfileUpdated = { userId: cmd.userId, changes, updatedAt: cmd.at };
  return [{ type: 'profile.ProfileUpdated', data }];
};

export const decide = (cmd: ProfileCommand, s: Profile): schema.ProfileStreamEvent[] => {
  switch (cmd.type) {
    case 'UpdateProfile':
      return update(cmd, s);
    default: {
      const unhandled: never = cmd.type;
      throw new Error(`unknown command ${String(unhandled)}`);
    }
  }
};

export const evolve = (s: Profile, e: schema.ProfileStreamEvent): Profile => {
  switch (e.type) {
    case 'profile.ProfileUpdated': {
      const d = e.data;
      const fields = { ...s.fields };
      for (const c of d.changes) fields[c.field] = c.to;
      return s.status === 'none'
        ? { status: 'active', userId: d.userId, fields, createdAt: d.updatedAt, updatedAt: d.updatedAt }
        : { ...s, fields, updatedAt: d.updatedAt };
    }
    default:
      // A one-type union: its `type` is what narrows to never.
      return unknownEvent(e.type, s);
  }
};

export const profileDecider: Decider<Profile, ProfileCommand, schema.ProfileStreamEvent> = {
  initialState,
  decide,
  evolve,
};
