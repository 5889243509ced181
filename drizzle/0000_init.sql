CREATE TABLE "balance" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"account" text NOT NULL,
	"asset" text NOT NULL,
	"available" bigint DEFAULT 0 NOT NULL,
	"on_hold" bigint DEFAULT 0 NOT NULL,
	"allow_negative" boolean DEFAULT false NOT NULL,
	"version" bigint DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "balance_non_negative" CHECK ("balance"."allow_negative" OR "balance"."available" >= 0),
	CONSTRAINT "balance_on_hold_non_negative" CHECK ("balance"."on_hold" >= 0)
);
--> statement-breakpoint
CREATE TABLE "operation" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"transaction_id" uuid NOT NULL,
	"balance_id" uuid NOT NULL,
	"entry_index" integer NOT NULL,
	"account" text NOT NULL,
	"asset" text NOT NULL,
	"direction" text NOT NULL,
	"amount" bigint NOT NULL,
	"balance_before" bigint NOT NULL,
	"balance_after" bigint NOT NULL,
	"metadata_version" integer DEFAULT 0 NOT NULL,
	"metadata_hash" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "operation_direction_valid" CHECK ("operation"."direction" IN ('debit', 'credit')),
	CONSTRAINT "operation_amount_positive" CHECK ("operation"."amount" > 0)
);
--> statement-breakpoint
CREATE TABLE "outbox" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"event_id" uuid NOT NULL,
	"aggregate_type" text NOT NULL,
	"aggregate_id" text NOT NULL,
	"version" integer NOT NULL,
	"event_type" text NOT NULL,
	"payload" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"last_error" text,
	"status" text DEFAULT 'pending' NOT NULL,
	"available_at" timestamp with time zone DEFAULT now() NOT NULL,
	"claimed_by" text,
	"claimed_until" timestamp with time zone,
	"dead_at" timestamp with time zone,
	CONSTRAINT "outbox_status_valid" CHECK ("outbox"."status" IN ('pending', 'dead')),
	CONSTRAINT "outbox_version_positive" CHECK ("outbox"."version" > 0)
);
--> statement-breakpoint
CREATE TABLE "outbox_delivered" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"event_id" uuid NOT NULL,
	"aggregate_type" text NOT NULL,
	"aggregate_id" text NOT NULL,
	"version" integer NOT NULL,
	"event_type" text NOT NULL,
	"payload" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"last_error" text,
	"delivered_at" timestamp with time zone DEFAULT now() NOT NULL,
	"delivered_by" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "outbox_relay" (
	"id" text PRIMARY KEY NOT NULL,
	"host" text NOT NULL,
	"pid" integer NOT NULL,
	"started_at" timestamp with time zone DEFAULT now() NOT NULL,
	"heartbeat_at" timestamp with time zone DEFAULT now() NOT NULL,
	"stopped_at" timestamp with time zone,
	"delivered_count" bigint DEFAULT 0 NOT NULL,
	"last_delivered_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "transaction" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"idempotency_key" text NOT NULL,
	"request_hash" text NOT NULL,
	"status" text DEFAULT 'posted' NOT NULL,
	"description" text,
	"metadata_version" integer DEFAULT 0 NOT NULL,
	"metadata_hash" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "transaction_status_valid" CHECK ("transaction"."status" IN ('posted'))
);
--> statement-breakpoint
ALTER TABLE "operation" ADD CONSTRAINT "operation_transaction_id_transaction_id_fk" FOREIGN KEY ("transaction_id") REFERENCES "public"."transaction"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "operation" ADD CONSTRAINT "operation_balance_id_balance_id_fk" FOREIGN KEY ("balance_id") REFERENCES "public"."balance"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "balance_account_asset_key" ON "balance" USING btree ("account","asset");--> statement-breakpoint
CREATE INDEX "operation_transaction_id_idx" ON "operation" USING btree ("transaction_id");--> statement-breakpoint
CREATE INDEX "operation_balance_id_idx" ON "operation" USING btree ("balance_id");--> statement-breakpoint
CREATE UNIQUE INDEX "outbox_event_id_key" ON "outbox" USING btree ("event_id");--> statement-breakpoint
CREATE INDEX "outbox_pending_idx" ON "outbox" USING btree ("id") WHERE "outbox"."status" = 'pending';--> statement-breakpoint
CREATE INDEX "outbox_aggregate_idx" ON "outbox" USING btree ("aggregate_type","aggregate_id","version");--> statement-breakpoint
CREATE UNIQUE INDEX "outbox_delivered_event_id_key" ON "outbox_delivered" USING btree ("event_id");--> statement-breakpoint
CREATE INDEX "outbox_delivered_delivered_at_idx" ON "outbox_delivered" USING btree ("delivered_at");--> statement-breakpoint
CREATE INDEX "outbox_delivered_aggregate_idx" ON "outbox_delivered" USING btree ("aggregate_type","aggregate_id","version");--> statement-breakpoint
CREATE UNIQUE INDEX "transaction_idempotency_key_key" ON "transaction" USING btree ("idempotency_key");