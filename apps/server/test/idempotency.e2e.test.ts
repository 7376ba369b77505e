import test from 'ava';
import { bootstrapAdmin, idempotencyFlow } from './idempotency-flow.ts';
import { onEveryProfile } from './testing.ts';

onEveryProfile(test, idempotencyFlow, { env: { LECTERN_BOOTSTRAP_ADMINS: bootstrapAdmin } });
