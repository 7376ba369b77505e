import { AnalyticsError } from '../ports/analytics-store.ts';

/**
 * ClickHouse error codes that mean the rows sent were refused for what they
 * hold (a value the engine cannot parse or store), as opposed to the engine
 * being unreachable, read-only, out of memory or missing a table. Measured:
 * a lone surrogate in a string is 25 on chDB 26.x and on ClickHouse 18.16;
 * a number the column cannot take is 27.
 */
const DATA_CODES = new Set([
  6, // CANNOT_PARSE_TEXT
  25, // CANNOT_PARSE_ESCAPE_SEQUENCE
  26, // CANNOT_PARSE_QUOTED_STRING
  27, // CANNOT_PARSE_INPUT_ASSERTION_FAILED
  38, // CANNOT_PARSE_DATE
  41, // CANNOT_PARSE_DATETIME
  53, // TYPE_MISMATCH
  69, // ARGUMENT_OUT_OF_BOUND
  70, // CANNOT_CONVERT_TYPE
  72, // CANNOT_PARSE_NUMBER
  117, // INCORRECT_DATA
  131, // TOO_LARGE_STRING_SIZE
  321, // VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
  349, // CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN
]);

/**
 * Whether the analytics engine refused rows for their content. Such a row
 * is refused again however often it is sent, so the projector sets it
 * aside (dead letter); any other failure is the engine's, and is retried
 * until the engine is back.
 */
export const isDataRefusal = (error: unknown): boolean =>
  error instanceof AnalyticsError &&
  error.clickhouseCode !== undefined &&
  DATA_CODES.has(error.clickhouseCode);
