import type { VerifiedToken } from '@lectern/infra/http/auth';
import type { ChannelAccess, RealtimeChannelKind } from '@lectern/infra/runtime/realtime';

/**
 * The kinds of channel by name. One context's kind stands alone; a name
 * several contexts bring (`user`) must be live-only and without presence,
 * since one history, one presence and one subscriber filter serve a channel.
 */
export const kindsByName = (all: readonly RealtimeChannelKind[]) => {
  const byName = new Map<string, RealtimeChannelKind[]>();
  for (const k of all) byName.set(k.kind, [...(byName.get(k.kind) ?? []), k]);
  for (const [name, group] of byName)
    if (group.length > 1 && group.some((k) => k.history || k.presence || k.filter))
      throw new Error(
        `channel kind ${name} is brought more than once, so none may have history, presence or a subscriber filter`,
      );
  return byName as ReadonlyMap<string, readonly RealtimeChannelKind[]>;
};

/** The narrowest access the kinds of one name grant: any false refuses, any `'public'` narrows. */
export const accessOf = async (
  group: readonly RealtimeChannelKind[],
  caller: VerifiedToken,
  id: string,
): Promise<ChannelAccess> => {
  let access: ChannelAccess = true;
  for (const k of group) {
    const a = await k.authorize(caller, id);
    if (a === false) return false;
    if (a === 'public') access = 'public';
  }
  return access;
};
