import test from 'ava';
import { onEveryProfile } from './testing.ts';
import { transcodingFlow } from './transcoding-flow.ts';

onEveryProfile(test, transcodingFlow, { blobs: true });
