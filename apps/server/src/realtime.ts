import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import type { Server } from 'node:http';
import { clientAddress, type ReadinessCheck } from '@lectern/infra/http/app';
import type { PresenceBus } from '@lectern/infra/ports/presence-bus';
import { memoryPresenceHub } from '@lectern/infra/presence/memory';
import { openRedisPresenceBus } from '@lectern/infra/presence/redis';
import type { ContextModule, Platform } from '@lectern/infra/runtime/context-module';
import type { RealtimeContribution } from '@lectern/infra/runtime/realtime';
import { realtimeGateway } from '@lectern/realtime/gateway';
import type { Config } from './config.ts';

/**
 * The `realtime` role: the gateway on `/ws` with every module's channel
 * kinds and socket actions, and presence in Redis when `REDIS_URL` is set
 * (several gateway processes), in process otherwise (one process).
 */
export const startRealtime = async (
  o: Readonly<{ config: Config; platform: Platform; modules: readonly ContextModule[]; server: Server }>,
) => {
  const { config, platform } = o;
  const contributions = await Promise.all(
    o.modules.map((m) => m.realtime?.(platform) ?? Promise.resolve<RealtimeContribution>({})),
  );
  const nodeId = `realtime-${hostname()}-${process.pid}-${platform.ids.uuid().slice(0, 8)}`.replace(
    /[^A-Za-z0-9._:@-]/g,
    '-',
  );
  const logger = platform.logger.child({ role: 'realtime' });
  const onError = (error: unknown, context: string) => logger.warn({ err: error, context }, 'presence');
  let presence: PresenceBus;
  if (config.redis) {
    const password = config.redis.passwordFile
      ? (await readFile(config.redis.passwordFile, 'utf8')).trim()
      : undefined;
    presence = await openRedisPresenceBus({
      url: config.redis.url,
      ...(password === undefined ? {} : { password }),
      nodeId,
      keyPrefix: `${config.namespace}:presence:`,
      onError,
    });
  } else presence = memoryPresenceHub().bus({ nodeId, onError });
  const gateway = realtimeGateway({
    verify: platform.auth.verify,
    channels: contributions.flatMap((c) => c.channels ?? []),
    actions: contributions.flatMap((c) => c.actions ?? []),
    log: platform.log,
    namespace: config.namespace,
    nodeId,
    waitFor: platform.waitFor,
    readModels: o.modules.flatMap((m) => (m.projections ?? []).map((p) => p.name)),
    presence,
    logger,
    metrics: platform.metrics,
    limits: { maxConnectionsPerUser: config.realtimeMaxConnectionsPerUser },
    addressOf: clientAddress,
  });
  gateway.attach(o.server);
  await gateway.start();
  const readiness: ReadinessCheck[] = [{ name: 'presence', check: () => presence.ping() }];
  return {
    readiness,
    gateway,
    async stop() {
      await gateway.stop();
      await presence.close();
    },
  };
};
