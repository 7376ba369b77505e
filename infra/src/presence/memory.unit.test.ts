import test from 'ava';
import { presenceBusContract } from './contract.ts';
import { memoryPresenceHub } from './memory.ts';

// A hub per test: its buses stand for the processes of one deployment.
presenceBusContract(test, 'in-process presence', async () => {
  const hub = memoryPresenceHub();
  return { bus: async (options) => hub.bus(options), cleanup: async () => {} };
});
