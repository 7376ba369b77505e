import type { NotificationRequested, SendDomainEvent } from '@lectern/schemas/notifications/sends';
import type { Decider } from '@lectern/infra/runtime/decider';

/** A send request is asked for once; its stream then holds it. */
export type SendRequest = Readonly<{ status: 'none' }> | Readonly<{ status: 'requested'; requestId: string }>;

export type RequestNotification = Readonly<{ type: 'RequestNotification' } & NotificationRequested>;

/**
 * One `notificationrequest-<id>` stream per send request, its id from the
 * command id: asking again (a retry that reached the store twice) decides
 * nothing new.
 */
export const sendDecider: Decider<SendRequest, RequestNotification, SendDomainEvent> = {
  initialState: () => ({ status: 'none' }),
  decide: (cmd, state) => {
    if (state.status === 'requested') return [];
    const { type: _type, ...data } = cmd;
    return [{ type: 'notifications.NotificationRequested', data }];
  },
  evolve: (_state, event) => ({ status: 'requested', requestId: event.data.requestId }),
};
