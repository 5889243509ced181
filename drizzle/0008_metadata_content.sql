CREATE TABLE "entity_metadata" (
	"aggregate_type" text NOT NULL,
	"aggregate_id" text NOT NULL,
	"version" integer NOT NULL,
	"hash" text NOT NULL,
	"metadata" jsonb NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "entity_metadata_aggregate_type_aggregate_id_pk" PRIMARY KEY("aggregate_type","aggregate_id"),
	CONSTRAINT "entity_metadata_version_positive" CHECK ("entity_metadata"."version" > 0)
);
--> statement-breakpoint
CREATE TABLE "metadata_backfill" (
	"aggregate_type" text PRIMARY KEY NOT NULL,
	"filled" bigint NOT NULL,
	"missing" bigint NOT NULL,
	"ran_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "rebuild_run" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"filter_key" text NOT NULL,
	"filter" jsonb NOT NULL,
	"started_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone,
	"cursor_type" text,
	"cursor_id" text,
	"done" bigint DEFAULT 0 NOT NULL,
	"total" bigint DEFAULT 0 NOT NULL
);
--> statement-breakpoint
ALTER TABLE "outbox" ALTER COLUMN "payload" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "outbox_delivered" ALTER COLUMN "payload" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "operation" ADD COLUMN "metadata" jsonb;--> statement-breakpoint
ALTER TABLE "operation" ADD COLUMN "updated_at" timestamp with time zone DEFAULT now() NOT NULL;--> statement-breakpoint
ALTER TABLE "transaction" ADD COLUMN "metadata" jsonb;--> statement-breakpoint
CREATE UNIQUE INDEX "rebuild_run_open_key" ON "rebuild_run" USING btree ("filter_key") WHERE "rebuild_run"."finished_at" IS NULL;