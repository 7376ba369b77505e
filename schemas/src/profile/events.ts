import { eventGuard, type CatalogueOf } from '../catalogue.ts';
import type { DomainEvent, RecordedEventOf } from '../envelope.ts';
import {
  arrayOf,
  integer,
  nullable,
  object,
  oneOf,
  string,
  type Validator,
  isoTime as isoTimeOf,
  uuid as uuidOf,
} from '../validation.ts';
import { profileFieldNames, type ProfileField } from './fields.ts';

/** A value a profile field can hold; `null` means unset. */
export type FieldValue = string | null;
export type FieldChange<F extends string = ProfileField> = Readonly<{
  field: F;
  from: FieldValue;
  to: FieldValue;
}>;

export type ProfileUpdated = Readonly<{
  userId: string;
  changes: readonly FieldChange[];
  updatedAt: string;
}>;

/** The image types an avatar may be: what browsers show everywhere, and what finalize can sniff. */
export const avatarTypes = ['image/jpeg', 'image/png'] as const;
export type AvatarType = (typeof avatarTypes)[number];

/** A new avatar, checked in storage (size, magic bytes) before this was recorded. */
export type AvatarChanged = Readonly<{
  userId: string;
  avatarId: string;
  /** Where the image is in the blob store. */
  key: string;
  contentType: AvatarType;
  size: number;
  changedAt: string;
}>;

export type ExperienceLevelDefined = Readonly<{
  levelId: string;
  code: string;
  label: string;
  rank: number;
  definedAt: string;
}>;

export type ExperienceLevelChanged = Readonly<{
  levelId: string;
  code: string;
  changes: readonly FieldChange<'label' | 'rank'>[];
  changedAt: string;
}>;

export type ExperienceLevelRetired = Readonly<{ levelId: string; code: string; retiredAt: string }>;

/** The events of a `profile-<userId>` stream, as its decider states them. */
export type ProfileStreamEvent =
  DomainEvent<'profile.ProfileUpdated', ProfileUpdated> | DomainEvent<'profile.AvatarChanged', AvatarChanged>;

/** The events of an `experiencelevel-<levelId>` stream. */
export type ExperienceLevelStreamEvent =
  | DomainEvent<'profile.ExperienceLevelDefined', ExperienceLevelDefined>
  | DomainEvent<'profile.ExperienceLevelChanged', ExperienceLevelChanged>
  | DomainEvent<'profile.ExperienceLevelRetired', ExperienceLevelRetired>;

/** Every profile event as decided, narrowed by `type`. */
export type ProfileDomainEvent = ProfileStreamEvent | ExperienceLevelStreamEvent;

/** Every profile event as read back from the store or the log, narrowed by `type`. */
export type ProfileEvent = RecordedEventOf<ProfileDomainEvent>;

const isoTime = isoTimeOf();
const uuid = uuidOf();
const value = nullable(string({ trim: false, max: 500 }));
const change = (fields: readonly string[]): Validator<FieldChange<string>> =>
  object({
    field: (input, path) =>
      typeof input === 'string' && fields.includes(input)
        ? { ok: true, value: input }
        : { ok: false, issues: [{ path: path ?? '', message: 'is not a known field' }] },
    from: value,
    to: value,
  });

export const profileEvents: CatalogueOf<ProfileDomainEvent> = {
  'profile.ProfileUpdated': [
    {
      version: 1,
      validate: object({
        userId: uuid,
        changes: arrayOf(change(profileFieldNames)),
        updatedAt: isoTime,
      }) as Validator<unknown>,
    },
  ],
  'profile.AvatarChanged': [
    {
      version: 1,
      validate: object({
        userId: uuid,
        avatarId: uuid,
        key: string({ min: 1, max: 1024, trim: false }),
        contentType: oneOf(avatarTypes),
        size: integer({ min: 1, max: 5 * 1024 * 1024 }),
        changedAt: isoTime,
      }) as Validator<unknown>,
    },
  ],
  'profile.ExperienceLevelDefined': [
    {
      version: 1,
      validate: object({
        levelId: uuid,
        code: string({ min: 1, max: 40 }),
        label: string({ min: 1, max: 80 }),
        rank: integer({ min: 0, max: 1000 }),
        definedAt: isoTime,
      }) as Validator<unknown>,
    },
  ],
  'profile.ExperienceLevelChanged': [
    {
      version: 1,
      validate: object({
        levelId: uuid,
        code: string({ min: 1, max: 40 }),
        changes: arrayOf(change(['label', 'rank'])),
        changedAt: isoTime,
      }) as Validator<unknown>,
    },
  ],
  'profile.ExperienceLevelRetired': [
    {
      version: 1,
      validate: object({
        levelId: uuid,
        code: string({ min: 1, max: 40 }),
        retiredAt: isoTime,
      }) as Validator<unknown>,
    },
  ],
};

/** Narrows a recorded event to profile's union (see `eventGuard`). */
export const isProfileEvent = eventGuard<ProfileDomainEvent>(profileEvents);

export const profileStreamId = (userId: string): string => `profile-${userId}`;
export const experienceLevelStreamId = (levelId: string): string => `experiencelevel-${levelId}`;
