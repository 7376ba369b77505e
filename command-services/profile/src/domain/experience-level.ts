import { type profile as schema } from '@lectern/schemas';
import { Problem } from '@lectern/infra/runtime/errors';
import { unknownEvent, type Decider } from '@lectern/infra/runtime/decider';

export type ExperienceLevel =
  | Readonly<{ status: 'none' }>
  | Readonly<{ status: 'active'; levelId: string; code: string; label: string; rank: number }>
  | Readonly<{ status: 'retired'; levelId: string; code: string; label: string; rank: number }>;

export type ExperienceLevelCommand =
  | Readonly<{
      type: 'DefineExperienceLevel';
      levelId: string;
      code: string;
      label: string;
      rank: number;
      at: string;
    }>
  | Readonly<{ type: 'ChangeExperienceLevel'; label?: string; rank?: number; at: string }>
  | Readonly<{ type: 'RetireExperienceLevel'; at: string }>;

export const initialState = (): ExperienceLevel => ({ status: 'none' });

const notFound = (): Problem =>
  new Problem('not_found', 'experience_level_not_found', 'No such experience level.');

export const decide = (
  cmd: ExperienceLevelCommand,
  s: ExperienceLevel,
): schema.ExperienceLevelStreamEvent[] => {
  switch (cmd.type) {
    case 'DefineExperienceLevel': {
      if (s.status === 'active')
        throw new Problem(
          'conflict',
          'experience_level_exists',
          `Experience level '${cmd.code}' already exists.`,
        );
      const data: schema.ExperienceLevelDefined = {
        levelId: cmd.levelId,
        code: cmd.code,
        label: cmd.label,
        rank: cmd.rank,
        definedAt: cmd.at,
      };
      return [{ type: 'profile.ExperienceLevelDefined', data }];
    }
    case 'ChangeExperienceLevel': {
      if (s.status !== 'active') throw notFound();
      const changes: schema.ExperienceLevelChanged['changes'][number][] = [];
      if (cmd.label !== undefined && cmd.label !== s.label)
        changes.push({ field: 'label', from: s.label, to: cmd.label });
      if (cmd.rank !== undefined && cmd.rank !== s.rank)
        changes.push({ field: 'rank', from: String(s.rank), to: String(cmd.rank) });
      if (changes.length === 0) return [];
      const data: schema.ExperienceLevelChanged = {
        levelId: s.levelId,
        code: s.code,
        changes,
        changedAt: cmd.at,
      };
      return [{ type: 'profile.ExperienceLevelChanged', data }];
    }
    case 'RetireExperienceLevel': {
      if (s.status !== 'active') throw notFound();
      const data: schema.ExperienceLevelRetired = { levelId: s.levelId, code: s.code, retiredAt: cmd.at };
      return [{ type: 'profile.ExperienceLevelRetired', data }];
    }
    default: {
      const unhandled: never = cmd;
      throw new Error(`unknown command ${String(unhandled)}`);
    }
  }
};

export const evolve = (s: ExperienceLevel, e: schema.ExperienceLevelStreamEvent): ExperienceLevel => {
  switch (e.type) {
    case 'profile.ExperienceLevelDefined': {
      const d = e.data;
      return { status: 'active', levelId: d.levelId, code: d.code, label: d.label, rank: d.rank };
    }
    case 'profile.ExperienceLevelChanged': {
      if (s.status === 'none') return s;
      const d = e.data;
      let next = s;
      for (const c of d.changes)
        next = c.field === 'label' ? { ...next, label: c.to ?? next.label } : { ...next, rank: Number(c.to) };
      return next;
    }
    case 'profile.ExperienceLevelRetired':
      return s.status === 'active' ? { ...s, status: 'retired' } : s;
    default:
      return unknownEvent(e, s);
  }
};

export const experienceLevelDecider: Decider<
  ExperienceLevel,
  ExperienceLevelCommand,
  schema.ExperienceLevelStreamEvent
> = { initialState, decide, evolve };
