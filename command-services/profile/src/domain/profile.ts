import { profile as schema, sniffFileType, type SniffedType } from '@lectern/schemas';
import { Problem } from '@lectern/infra/runtime/errors';
import { unknownEvent, type Decider } from '@lectern/infra/runtime/decider';

type Field = schema.ProfileField;
export type Fields = Readonly<Record<Field, string | null>>;

/** A profile exists from its first change; before that every field has its default. */
export type Profile =
  | Readonly<{ status: 'none'; fields: Fields; avatarId: null }>
  | Readonly<{
      status: 'active';
      userId: string;
      fields: Fields;
      /** The upload the avatar is, if any. */
      avatarId: string | null;
      createdAt: string;
      updatedAt: string;
    }>;

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
/** What the storage holds for an avatar upload, as the handler found it. */
export type StoredImage = Readonly<{
  size: number;
  /** The type it was uploaded as (the storage held the upload to it). */
  contentType: string;
  /** What its first bytes are, by their magic number; null when neither a JPEG nor a PNG. */
  sniffed: schema.AvatarType | null;
}>;

export type ChangeAvatar = Readonly<{
  type: 'ChangeAvatar';
  userId: string;
  avatarId: string;
  key: string;
  /** Null when nothing was uploaded under `key`. */
  stored: StoredImage | null;
  maxBytes: number;
  at: string;
}>;

export type ProfileCommand = UpdateProfile | ChangeAvatar;

export const initialState = (): Profile => ({ status: 'none', fields: defaultFields, avatarId: null });

/** The image type the first bytes show, whatever the upload said it was; null when not a JPEG or PNG. */
export const sniffImage = (head: Uint8Array): schema.AvatarType | null => narrowToImage(sniffFileType(head));

/** A sniffed type as an avatar type: null for anything but a JPEG or a PNG. */
export const narrowToImage = (type: SniffedType | null): schema.AvatarType | null =>
  type === 'image/jpeg' || type === 'image/png' ? type : null;

const changeAvatar = (cmd: ChangeAvatar, s: Profile): schema.ProfileStreamEvent[] => {
  const stored = cmd.stored;
  if (!stored)
    throw new Problem('conflict', 'avatar_not_uploaded', 'Nothing was uploaded for this avatar id.', {
      extra: { avatarId: cmd.avatarId },
    });
  if (stored.size > cmd.maxBytes)
    throw new Problem('too_large', 'avatar_too_large', `An avatar is at most ${cmd.maxBytes} bytes.`, {
      extra: { size: stored.size, maxBytes: cmd.maxBytes },
    });
  if (stored.sniffed === null || stored.sniffed !== stored.contentType)
    throw new Problem(
      'validation',
      'avatar_not_an_image',
      `The upload is not the ${stored.contentType} it was sent as: an avatar is a JPEG or a PNG.`,
      { extra: { declared: stored.contentType, found: stored.sniffed } },
    );
  if (s.avatarId === cmd.avatarId) return [];
  const data: schema.AvatarChanged = {
    userId: cmd.userId,
    avatarId: cmd.avatarId,
    key: cmd.key,
    contentType: stored.sniffed,
    size: stored.size,
    changedAt: cmd.at,
  };
  return [{ type: 'profile.AvatarChanged', data }];
};

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
    case 'ChangeAvatar':
      return changeAvatar(cmd, s);
    default: {
      const unhandled: never = cmd;
      throw new Error(`unknown command ${JSON.stringify(unhandled)}`);
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
        ? {
            status: 'active',
            userId: d.userId,
            fields,
            avatarId: null,
            createdAt: d.updatedAt,
            updatedAt: d.updatedAt,
          }
        : { ...s, fields, updatedAt: d.updatedAt };
    }
    case 'profile.AvatarChanged': {
      const d = e.data;
      return s.status === 'none'
        ? {
            status: 'active',
            userId: d.userId,
            fields: s.fields,
            avatarId: d.avatarId,
            createdAt: d.changedAt,
            updatedAt: d.changedAt,
          }
        : { ...s, avatarId: d.avatarId, updatedAt: d.changedAt };
    }
    default:
      return unknownEvent(e, s);
  }
};

export const profileDecider: Decider<Profile, ProfileCommand, schema.ProfileStreamEvent> = {
  initialState,
  decide,
  evolve,
};
