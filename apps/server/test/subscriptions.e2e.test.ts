import { randomBytes } from 'node:crypto';
import test from 'ava';
import { subscriptionsFlow } from './subscriptions-flow.ts';
import { onEveryProfile } from './testing.ts';

// The server's message key, chosen here so that the test makes unsubscribe links as the worker does.
const key = randomBytes(32);

onEveryProfile(test, subscriptionsFlow(key), { env: { LECTERN_MESSAGE_KEYS: key.toString('base64url') } });
