import test from 'ava';
import { requireEngine } from '../testing/engines.ts';
import { eventStoreContract } from './contract.ts';
import { kurrentEventStore } from './kurrentdb.ts';

// No KurrentDB can be installed on our machines (ARCHITECTURE.md §6): this
// runs wherever EVENTSTORE_URL points at a real one, e.g.
// EVENTSTORE_URL='kurrentdb://127.0.0.1:2113?tls=false'.
const url = requireEngine(test, 'EVENTSTORE_URL', 'event store on KurrentDB');
if (url)
  eventStoreContract(
    test,
    'kurrentdb',
    async () => {
      const store = await kurrentEventStore(url);
      return { store, cleanup: async () => store.close() };
    },
    // KurrentDB checks event ids within a stream only; it keeps no index of them.
    { idsUniqueAcrossStreams: false },
  );
