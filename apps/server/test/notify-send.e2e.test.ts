import test from 'ava';
import { notifySendFlow } from './notify-send-flow.ts';
import { onEveryProfile } from './testing.ts';

onEveryProfile(test, notifySendFlow, { mail: true });
