import type { EventStore } from '../ports/event-store.ts';
import type { Metrics } from '../runtime/metrics.ts';
import { SpanKind, inSpan } from '../runtime/tracing.ts';

/**
 * Wraps any EventStore so that append latency lands in
 * `lectern_event_store_append_duration_seconds`, and each append is a span
 * (a child of the request's). The span names the stream's kind and the event
 * types, not the stream id: ids of people stay out of traces.
 */
export const instrumentedStore = (store: EventStore, metrics: Metrics): EventStore => ({
  async append(streamId, events, opts) {
    const end = metrics.appendDuration.startTimer();
    try {
      return await inSpan(
        'event-store append',
        {
          kind: SpanKind.CLIENT,
          attributes: {
            'lectern.stream.kind': streamId.split('-', 1)[0]!,
            'lectern.event.types': [...new Set(events.map((e) => e.type))],
            'lectern.event.count': events.length,
          },
        },
        () => store.append(streamId, events, opts),
      );
    } finally {
      end();
    }
  },
  readStream: (streamId, opts) => store.readStream(streamId, opts),
  readFirstEvents: (streamIds) => store.readFirstEvents(streamIds),
  readCorrelation: (correlationId, opts) => store.readCorrelation(correlationId, opts),
  readAll: (after, limit, hints) => store.readAll(after, limit, hints),
  headCursor: () => store.headCursor(),
  feedRelation: (sql, slice) => store.feedRelation(sql, slice),
  headPosition: () => store.headPosition(),
  subscribeToAll: (after, handler, opts) => store.subscribeToAll(after, handler, opts),
  getStreamMetadata: (streamId) => store.getStreamMetadata(streamId),
  setStreamMetadata: (streamId, metadata) => store.setStreamMetadata(streamId, metadata),
  deleteStream: (streamId, opts) => store.deleteStream(streamId, opts),
  compareCursors: (a, b) => store.compareCursors(a, b),
  ping: () => store.ping(),
  close: () => store.close(),
});
