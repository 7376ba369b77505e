import test from 'ava';
import { profileFlow } from './profile-flow.ts';
import { onEveryProfile } from './testing.ts';

onEveryProfile(test, profileFlow, { blobs: true });
