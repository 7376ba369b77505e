import test from 'ava';
import { chatFlow } from './chat-flow.ts';
import { onEveryProfile } from './testing.ts';

onEveryProfile(test, chatFlow);
