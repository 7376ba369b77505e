import test from 'ava';
import { notifyUnsubscribeFlow } from './notify-unsubscribe-flow.ts';
import { onEveryProfile } from './testing.ts';

onEveryProfile(test, notifyUnsubscribeFlow, { mail: true });
