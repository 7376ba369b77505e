import { sqlMigration, type Migration } from '../sql/migrate.ts';

/** Every table lives in this schema; knex's bookkeeping is `knex_migrations_message_log`. */
export const messageLogMigrations: readonly Migration[] = [
  sqlMigration(
    '0001_message_log_topics',
    `
    create schema if not exists message_log;
    create table if not exists message_log.topics (
      topic text primary key check (topic <> ''),
      partitions integer not null check (partitions > 0),
      created_at timestamptz not null default now()
    );
    create table if not exists message_log.partitions (
      topic text not null references message_log.topics (topic) on delete cascade,
      partition integer not null check (partition >= 0),
      next_offset bigint not null default 0 check (next_offset >= 0),
      primary key (topic, partition)
    );
    create table if not exists message_log.messages (
      topic text not null,
      partition integer not null,
      "offset" bigint not null,
      key text not null,
      value text not null,
      headers jsonb not null default '{}'::jsonb,
      appended_at timestamptz not null default now(),
      primary key (topic, partition, "offset")
    );
    `,
    `
    drop table if exists message_log.messages;
    drop table if exists message_log.partitions;
    drop table if exists message_log.topics;
    drop schema if exists message_log;
    `,
  ),
  sqlMigration(
    '0002_message_log_consumer_groups',
    `
    create table if not exists message_log.commits (
      group_id text not null,
      topic text not null,
      partition integer not null,
      committed_offset bigint not null check (committed_offset >= 0),
      committed_at timestamptz not null default now(),
      primary key (group_id, topic, partition)
    );
    create table if not exists message_log.members (
      group_id text not null,
      member_id text not null,
      topics jsonb not null,
      joined_at timestamptz not null default now(),
      expires_at timestamptz not null,
      primary key (group_id, member_id)
    );
    create table if not exists message_log.leases (
      group_id text not null,
      topic text not null,
      partition integer not null,
      member_id text not null,
      expires_at timestamptz not null,
      primary key (group_id, topic, partition)
    );
    create index if not exists leases_by_member on message_log.leases (group_id, member_id);
    `,
    `
    drop table if exists message_log.leases;
    drop table if exists message_log.members;
    drop table if exists message_log.commits;
    `,
  ),
  sqlMigration(
    '0003_message_log_lease_epochs',
    // A released lease keeps its row with no holder, so its epoch never starts over.
    `
    alter table message_log.leases add column if not exists epoch bigint not null default 0;
    alter table message_log.leases alter column member_id drop not null;
    `,
    `
    delete from message_log.leases where member_id is null;
    alter table message_log.leases alter column member_id set not null;
    alter table message_log.leases drop column if exists epoch;
    `,
  ),
];
