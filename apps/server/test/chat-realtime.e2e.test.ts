import test from 'ava';
import { chatRealtimeFlow } from './chat-realtime-flow.ts';
import { onEveryProfile } from './testing.ts';

onEveryProfile(test, chatRealtimeFlow, { redis: true });
