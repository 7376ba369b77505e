import test from 'ava';
import { identityFlow } from './identity-flow.ts';
import { onEveryProfile } from './testing.ts';

onEveryProfile(test, identityFlow);
