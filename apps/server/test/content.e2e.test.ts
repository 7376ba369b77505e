import test from 'ava';
import { contentFlow } from './content-flow.ts';
import { onEveryProfile } from './testing.ts';

onEveryProfile(test, contentFlow, { blobs: true });
