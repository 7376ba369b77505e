/** A message as mailpit lists it. */
export type MailpitSummary = Readonly<{
  ID: string;
  MessageID: string;
  Subject: string;
  To: readonly { Address: string }[];
  /** When mailpit accepted it (ISO 8601). */
  Created: string;
}>;

/** A message as mailpit returns it whole. */
export type MailpitMessage = MailpitSummary & Readonly<{ Text: string; HTML: string }>;

/**
 * Reads what reached mailpit (infra/local/mailpit.sh) through its HTTP API,
 * for tests: searches wait, bounded, for what they expect, since mail
 * arrives after the request that caused it.
 *
 * @example
 *   const box = mailpit(process.env.MAILPIT_URL!);
 *   const [welcome] = await box.waitFor(`to:"${email}" subject:"Welcome"`);
 */
export const mailpit = (url: string, patienceMs = 60_000) => {
  const search = async (query: string): Promise<readonly MailpitSummary[]> => {
    const res = await fetch(`${url}/api/v1/search?query=${encodeURIComponent(query)}&limit=200`);
    if (!res.ok) throw new Error(`mailpit search: ${res.status}`);
    return ((await res.json()) as { messages: MailpitSummary[] }).messages;
  };
  return {
    search,
    /** The messages matching `query` once there are at least `count`; throws after `patienceMs`. */
    async waitFor(query: string, count = 1): Promise<readonly MailpitSummary[]> {
      const deadline = Date.now() + patienceMs;
      for (;;) {
        const found = await search(query);
        if (found.length >= count) return found;
        if (Date.now() > deadline)
          throw new Error(
            `mailpit: ${count} message(s) matching ${query} never arrived (found ${found.length})`,
          );
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    async message(id: string): Promise<MailpitMessage> {
      const res = await fetch(`${url}/api/v1/message/${id}`);
      if (!res.ok) throw new Error(`mailpit message ${id}: ${res.status}`);
      return (await res.json()) as MailpitMessage;
    },
    async headers(id: string): Promise<Readonly<Record<string, readonly string[]>>> {
      const res = await fetch(`${url}/api/v1/message/${id}/headers`);
      if (!res.ok) throw new Error(`mailpit headers ${id}: ${res.status}`);
      return (await res.json()) as Record<string, string[]>;
    },
  };
};
