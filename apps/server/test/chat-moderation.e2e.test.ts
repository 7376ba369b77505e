import test from 'ava';
import { chatModerationFlow } from './chat-moderation-flow.ts';
import { onEveryProfile } from './testing.ts';

onEveryProfile(test, chatModerationFlow);
