import { Router, type Request, type Response } from 'express';
import { chat as schema, uuid } from '@lectern/schemas';
import { authenticate } from '@lectern/infra/http/auth';
import { ifMatchRevision, setCommandHeaders } from '@lectern/infra/http/headers';
import { jsonBody } from '@lectern/infra/http/app';
import { handleCommand } from '@lectern/infra/runtime/command-handler';
import { eventMetadata } from '@lectern/infra/runtime/context';
import { validated } from '@lectern/infra/runtime/errors';
import { deterministicUuid } from '@lectern/infra/runtime/ids';
import { roomDecider, type RoomCommand } from './domain/room.ts';
import { chatBlockRoutes } from './blocks.ts';
import {
  chatCommands,
  directRoomId,
  isBlockedBy,
  type ChatCaller,
  type ChatCommandDeps,
} from './commands.ts';

const roomIdParam = uuid();

/** Chat's commands over HTTP: rooms, membership, and messages. */
export const chatCommandRoutes = (deps: ChatCommandDeps): Router => {
  const router = Router();
  const auth = authenticate(deps.verify);
  const commands = chatCommands(deps);
  router.use(chatBlockRoutes(deps));
  const caller = (req: Request): ChatCaller => ({
    userId: req.ctx.actor!.userId!,
    roles: req.ctx.actor!.roles,
    commandId: req.ctx.commandId,
    metadata: eventMetadata(req.ctx),
  });
  const roomIdOf = (req: Request): string => validated(roomIdParam(req.params.roomId, '/roomId'));
  const seqOf = (req: Request): number => validated(schema.seqParam(req.params.seq, '/seq'));
  const runRoom = async (req: Request, roomId: string, command: RoomCommand) => {
    const expectedRevision = ifMatchRevision(req);
    return handleCommand({
      store: deps.store,
      catalogue: schema.chatEvents,
      commandId: req.ctx.commandId,
      occurredAt: deps.clock.now().toISOString(),
      metadata: eventMetadata(req.ctx),
      streamId: schema.roomStreamId(roomId),
      decider: roomDecider,
      command,
      ...(expectedRevision === undefined ? {} : { expectedRevision }),
    });
  };
  const answerRoom = (
    res: Response,
    roomId: string,
    outcome: { revision: number; position: number | null },
  ) => {
    setCommandHeaders(res, outcome.revision, outcome.position);
    return { roomId, revision: outcome.revision };
  };

  router.post('/api/chat/rooms', auth, async (req, res) => {
    const body = validated(schema.newGroupRoom(jsonBody(req)));
    const roomId = deterministicUuid(`chat/room/${req.ctx.commandId}`);
    const owner = caller(req).userId;
    const members = body.members ?? [];
    // Naming members at creation is inviting them: nobody who blocked the owner is added.
    const blocked = await Promise.all(members.map((m) => isBlockedBy(deps.store, m, owner)));
    const outcome = await runRoom(req, roomId, {
      type: 'CreateGroup',
      roomId,
      name: body.name,
      ownerId: owner,
      members,
      ownerBlockedByAMember: blocked.includes(true),
      at: deps.clock.now().toISOString(),
    });
    res
      .status(201)
      .location(`/api/chat/rooms/${roomId}`)
      .json(answerRoom(res, roomId, outcome));
  });

  router.post('/api/chat/direct', auth, async (req, res) => {
    const { userId: other } = validated(schema.directRoomRequest(jsonBody(req)));
    const me = caller(req).userId;
    const roomId = directRoomId(me, other);
    const outcome = await runRoom(req, roomId, {
      type: 'OpenDirect',
      roomId,
      opener: me,
      other,
      openerBlocked: await isBlockedBy(deps.store, other, me),
      at: deps.clock.now().toISOString(),
    });
    res.json(answerRoom(res, roomId, outcome));
  });

  router.post('/api/chat/rooms/:roomId/members', auth, async (req, res) => {
    const roomId = roomIdOf(req);
    const { userId } = validated(schema.inviteRequest(jsonBody(req)));
    const by = caller(req).userId;
    const outcome = await runRoom(req, roomId, {
      type: 'Invite',
      userId,
      by,
      inviterBlocked: await isBlockedBy(deps.store, userId, by),
      at: deps.clock.now().toISOString(),
    });
    res.json(answerRoom(res, roomId, outcome));
  });

  router.delete('/api/chat/rooms/:roomId/members/me', auth, async (req, res) => {
    const roomId = roomIdOf(req);
    const outcome = await runRoom(req, roomId, {
      type: 'Leave',
      userId: caller(req).userId,
      at: deps.clock.now().toISOString(),
    });
    res.json(answerRoom(res, roomId, outcome));
  });

  router.put('/api/chat/rooms/:roomId/slow-mode', auth, async (req, res) => {
    const roomId = roomIdOf(req);
    const { seconds } = validated(schema.slowModeRequest(jsonBody(req)));
    const me = caller(req);
    const outcome = await runRoom(req, roomId, {
      type: 'SetSlowMode',
      seconds,
      by: me.userId,
      admin: me.roles.includes('admin'),
      at: deps.clock.now().toISOString(),
    });
    res.json(answerRoom(res, roomId, outcome));
  });

  router.post('/api/chat/rooms/:roomId/messages', auth, async (req, res) => {
    const roomId = roomIdOf(req);
    const body = validated(schema.sendMessage(jsonBody(req)));
    const sent = await commands.send(caller(req), roomId, body.body, body.clientMessageId, body.attachments);
    setCommandHeaders(res, sent.seq, sent.position);
    const { position: _, ...answer } = sent;
    res.status(201).json(answer);
  });

  router.patch('/api/chat/rooms/:roomId/messages/:seq', auth, async (req, res) => {
    const roomId = roomIdOf(req);
    const seq = seqOf(req);
    const { body } = validated(schema.editMessage(jsonBody(req)));
    const done = await commands.edit(caller(req), roomId, seq, body);
    setCommandHeaders(res, done.seq, done.position);
    res.json({ roomId, seq });
  });

  router.delete('/api/chat/rooms/:roomId/messages/:seq', auth, async (req, res) => {
    const roomId = roomIdOf(req);
    const seq = seqOf(req);
    const reason =
      req.query.reason === undefined
        ? null
        : validated(schema.redactQuery.reason(req.query.reason, '/reason'));
    const done = await commands.redact(caller(req), roomId, seq, reason);
    setCommandHeaders(res, done.seq, done.position);
    res.json({ roomId, seq });
  });

  return router;
};
