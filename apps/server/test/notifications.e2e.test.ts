import test from 'ava';
import { notificationsFlow } from './notifications-flow.ts';
import { onEveryProfile } from './testing.ts';

onEveryProfile(test, notificationsFlow, { mail: true });
