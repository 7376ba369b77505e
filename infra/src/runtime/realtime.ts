import type { RecordedEvent } from '@lectern/schemas';
import type { VerifiedToken } from '../http/auth.ts';

/**
 * The seam between the realtime gateway (`realtime/`) and the contexts: what
 * a context brings to the socket, as data and functions, so the gateway
 * names no context and a context knows nothing of WebSockets.
 *
 * A **channel** is `<kind>:<id>` (`room:<uuid>`, `user:<uuid>`,
 * `course:<uuid>`). A context contributes channel kinds: who may subscribe
 * to one, which events of the log reach it, and, for a resumable kind, its
 * durable history. The gateway owns connections, subscriptions, cursors,
 * backpressure, presence and the live feed from the log.
 *
 * **Resume without loss or duplicates.** Every item of a resumable channel
 * has a `seq`: strictly increasing and contiguous per channel (for a chat
 * room, the revision of the room's message stream: a message, an edit and a
 * redaction each take the next one). A client's cursor on a channel is the
 * last seq it received. The gateway delivers a live item `seq` to a
 * subscriber at cursor `c` only if `seq === c + 1`; it drops `seq <= c`
 * (already had), and for `seq > c + 1` (a gap: the client resumed from an
 * old cursor, or this process started after the client's cursor) it waits
 * until the channel's read model has applied the event (`Platform.waitFor`
 * with `projection`, `streamId` and the event's `position`), reads
 * `changesAfter(id, c)` page by page up to that seq, and then goes on live.
 */

/** One thing a channel delivers. */
export type ChannelItem = Readonly<{
  /**
   * Contiguous and strictly increasing per channel for a resumable kind.
   * For a live-only kind, the event's global position, so a kind routes at
   * most one item per channel from one event: unique per channel, but
   * items of different streams may arrive out of that order, so the
   * gateway drops only a seq it has already sent (a redelivery).
   */
  seq: number;
  /** The frame's `data`, as the client receives it (the read model's view, never a raw event). */
  data: unknown;
  /** Only for subscribers given full access (see `ChannelAccess`); default false. Live-only kinds only. */
  private?: boolean;
  /**
   * The user whose words the item carries (a message's sender), for a
   * subscriber's filter (see `SubscriberFilter`); none for an item that
   * carries nobody's words (a removal). Never sent to the client.
   */
  author?: string;
}>;

/**
 * What one subscriber is shown of a channel: a predicate over its items,
 * live and from history alike, so a resume agrees with the live feed. A
 * hidden item still moves the subscription's place in the channel (the
 * seqs stay contiguous, nothing is read again for it): the subscriber just
 * does not receive it, and its own cursor stays at the last item it got.
 *
 * The filter is the subscriber's own state (a blocklist), kept current
 * from the log: the gateway hands it every event the kind's `filter.changes`
 * names the subscriber for, in log order, in the same turn as the items
 * around it, so an item that follows a change in the log is judged by it.
 *
 * @example
 *   const blocked = new Set(['b']);
 *   const f: SubscriberFilter = {
 *     accepts: (item) => item.author === undefined || !blocked.has(item.author),
 *     observe: (e) => { if (e.type === 'chat.UserBlocked') blocked.add(e.data.blockedUserId); },
 *   };
 */
export type SubscriberFilter = Readonly<{
  /** Whether the subscriber receives this item. Synchronous and cheap: asked per item per subscriber. */
  accepts(item: ChannelItem): boolean;
  /**
   * Learns of an event that changes the filter (named for this subscriber
   * by `filter.changes`). An event it already counted when it was loaded
   * may come again: it must skip it (by the event's revision, say).
   */
  observe(event: RecordedEvent): void;
}>;

/**
 * What a caller may see of a channel: nothing (false), everything (true),
 * or only its items not marked `private` (`'public'`: a learner on a
 * published course's channel, whose author also sees upload progress).
 */
export type ChannelAccess = boolean | 'public';

/** Where an event of the log goes: one channel, one item. */
export type ChannelDelivery = Readonly<{
  /** The channel's id (without the kind). */
  id: string;
  item: ChannelItem;
}>;

/** A page of a channel's durable history. */
export type ChannelPage = Readonly<{
  /** Changes after the asked cursor, in seq order. */
  items: readonly ChannelItem[];
  /** True when more changes follow the last item (read the next page from its seq). */
  more: boolean;
}>;

export type RealtimeChannelKind = Readonly<{
  /** The prefix of its channels' names: `room` for `room:<id>`. */
  kind: string;
  /** The contexts whose topics (`topicOf(ctx, namespace)`) carry its events. */
  contexts: readonly string[];
  /**
   * May `caller` subscribe to `<kind>:<id>`, and to what of it? Asked on
   * every subscription and every resume; false is answered with a
   * `forbidden` error frame. An `id` of the wrong shape is false, never a
   * throw. `'public'` is for live-only kinds.
   */
  authorize(caller: VerifiedToken, id: string): Promise<ChannelAccess>;
  /**
   * Whether its subscribers are present in it (a room): each subscription
   * is tracked on the PresenceBus, and joins and leaves reach its
   * subscribers. Default false (a course's thousands of learners).
   */
  presence?: boolean;
  /**
   * Who loses a channel through this event (a member leaving a room): their
   * subscriptions to it end at once, answered `unsubscribed` with reason
   * `revoked`, whatever else they were sent. Pure; default none.
   */
  revoke?(event: RecordedEvent): readonly Readonly<{ id: string; userId: string }>[];
  /** The deliveries one event of the log makes to channels of this kind (most events: none). Pure. */
  route(event: RecordedEvent): readonly ChannelDelivery[];
  /**
   * Completes a routed item with what takes I/O (a short-lived download
   * URL), or null when it needs nothing (most items). Asked once per event
   * per gateway process, and only when the channel has a subscriber there,
   * before any of them is offered the item, so every subscriber gets the
   * same data, serialized once. The gateway keeps log order: later events
   * wait until it resolves. If it fails, the item goes out as routed.
   */
  complete?(id: string, item: ChannelItem): Promise<ChannelItem> | null;
  /**
   * A per-subscriber filter (a blocklist): what each subscriber of a
   * channel is shown of its items, live and from history.
   */
  filter?: Readonly<{
    /** The users whose filters an event of the log changes (a user's own block): most events, none. Pure. */
    changes(event: RecordedEvent): readonly string[];
    /**
     * The caller's filter on channel `id`, read when they subscribe; null
     * to show them everything. It holds every change stored before it was
     * read; changes after come through `observe` (the gateway holds those
     * that arrive while it is read and hands them over after).
     */
    of(caller: VerifiedToken, id: string): Promise<SubscriberFilter | null>;
  }>;
  /**
   * A resumable kind's durable history: how to read it and when it holds an
   * event. Absent for a live-only kind (a user's upload progress), whose
   * subscribers get what happens while they are connected.
   */
  history?: Readonly<{
    /** The read model `changesAfter` reads, as `Platform.waitFor` names it. */
    projection: string;
    /** The event-store stream whose events feed channel `id` (what `waitFor` waits on). */
    streamOf(id: string): string;
    /** Every change after `after`, in seq order, at most `limit` of them (the current state of each: a redacted message comes back redacted). */
    changesAfter(id: string, after: number, limit: number): Promise<ChannelPage>;
    /**
     * The global position of the newest event of channel `id`'s stream, from
     * the event store (null for none). A resume waits until the read model
     * has it before reading, so it gets every change written before it
     * subscribed: those the live feed showed before the subscription
     * existed would otherwise come only with the next live item.
     */
    head(id: string): Promise<number | null>;
  }>;
}>;

/** Refused with a stable code: the socket's error frame carries it, as problem+json does over HTTP. */
export type ActionContext = Readonly<{
  caller: VerifiedToken;
  /** The connection, unique across processes: a request id for the logs. */
  connectionId: string;
  /** The access token the connection was authenticated with (for handlers that call as the user). */
  token: string;
}>;

/**
 * A request a client may make over the socket (`{ type: 'chat.send', ref, data }`),
 * answered with `{ type: 'reply', ref, data }`, or an error frame with the
 * problem's code (and `retryAfter` in seconds for `rate_limited`). The
 * handler throws the same errors an HTTP route would (`Problem`).
 */
export type RealtimeAction = Readonly<{
  /** `<context>.<verb>`: `chat.send`, `chat.history`. */
  type: string;
  handle(ctx: ActionContext, data: unknown): Promise<unknown>;
}>;

/**
 * What one context brings to the realtime tier. Several contexts may bring
 * the same live-only kind without presence (each its own events to
 * `user:<id>`): the gateway routes each one's events, and lets a caller
 * subscribe only if every one of them agrees (the narrowest access wins).
 */
export type RealtimeContribution = Readonly<{
  channels?: readonly RealtimeChannelKind[];
  actions?: readonly RealtimeAction[];
}>;
