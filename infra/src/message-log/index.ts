export {
  sqlLog,
  messageLogMigrations,
  murmur2,
  partitionFor,
  LeaseFencedError,
  type SqlLogOptions,
} from './sql-log.ts';
export { kafkaLog, type KafkaLogOptions, type KafkaLogEntry } from './kafka.ts';
