import test from 'ava';
import { chatAttachmentsFlow } from './chat-attachments-flow.ts';
import { onEveryProfile } from './testing.ts';

onEveryProfile(test, chatAttachmentsFlow, { blobs: true });
