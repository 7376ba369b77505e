import { RegExpMatcher, englishDataset, englishRecommendedTransformers } from 'obscenity';

/** What a filter says of a text: allowed, or not and why (for people; clients branch on the problem's code). */
export type TextVerdict = Readonly<{ allowed: true }> | Readonly<{ allowed: false; reason: string }>;

/**
 * Decides whether a message's text may be stored (a send or an edit). A
 * refused text is answered 400 `message_not_allowed` and never stored. A
 * port: the chat module is given one (`chatModule({ profanityFilter })`),
 * `obscenityFilter()` by default, so a deployment can put its own list or a
 * moderation service behind it. Async so that such a service can answer.
 *
 * @example
 *   const filter: ProfanityFilter = obscenityFilter({ allow: ['Penistone'] });
 *   const v = await filter.check('a message');
 *   if (!v.allowed) throw new Problem('validation', 'message_not_allowed', v.reason);
 */
export interface ProfanityFilter {
  check(text: string): Promise<TextVerdict>;
}

/**
 * Places and words the default English list would otherwise refuse because
 * a listed word is inside them. obscenity already lets through most such
 * words (Scunthorpe, assessment, class, cocktail, Sussex); these are the
 * ones it does not (its repeated-letter transformer reads "shiitake" as
 * "shitake").
 */
export const DEFAULT_ALLOWED_WORDS: readonly string[] = ['penistone', 'shiitake'];

/** A number standing alone (not inside a word). */
const NUMBER = /(?<![\p{L}\p{N}])\p{N}+(?![\p{L}\p{N}])/gu;

/**
 * The text with each number that stands alone blanked out: the l33t-speak
 * transformer reads digits as letters, so "455" and "717" would be words,
 * and "I scored 455 points" refused. Digits inside a word ("sh1t", "a55")
 * are still read as letters.
 */
const withoutNumbers = (text: string) => text.replace(NUMBER, (n) => ' '.repeat(n.length));

/**
 * The default filter: the `obscenity` library's English list with its
 * recommended transformers, which read through l33t speak, repeated
 * letters and look-alike characters ("sh1t", "fuuuck", "fμck") while
 * leaving words that merely contain a listed one alone. `allow` adds
 * words that must pass (case folded, as the matcher reads them).
 */
export const obscenityFilter = (opts: Readonly<{ allow?: readonly string[] }> = {}): ProfanityFilter => {
  const dataset = englishDataset.build();
  const matcher = new RegExpMatcher({
    ...dataset,
    whitelistedTerms: [
      ...(dataset.whitelistedTerms ?? []),
      ...[...DEFAULT_ALLOWED_WORDS, ...(opts.allow ?? [])].map((w) => w.toLowerCase()),
    ],
    ...englishRecommendedTransformers,
  });
  return {
    check: (text) =>
      Promise.resolve(
        matcher.hasMatch(withoutNumbers(text))
          ? { allowed: false, reason: 'The message contains a word this platform does not allow.' }
          : { allowed: true },
      ),
  };
};
