CREATE TABLE "outbox_relay_replica" (
	"id" text PRIMARY KEY NOT NULL,
	"heartbeat_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "outbox_tenant" (
	"id" text PRIMARY KEY NOT NULL,
	"database_url" text,
	"database_url_env" text,
	"mongo_url" text,
	"mongo_url_env" text,
	"mongo_db" text NOT NULL,
	"paused" boolean DEFAULT false NOT NULL,
	"weight" integer DEFAULT 1 NOT NULL,
	"owner" text,
	"lease_expires_at" timestamp with time zone,
	"health" text,
	"health_reason" text,
	"health_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "outbox_tenant_id_valid" CHECK ("outbox_tenant"."id" ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
	CONSTRAINT "outbox_tenant_one_database_url" CHECK (("outbox_tenant"."database_url" IS NULL) <> ("outbox_tenant"."database_url_env" IS NULL)),
	CONSTRAINT "outbox_tenant_at_most_one_mongo_url" CHECK ("outbox_tenant"."mongo_url" IS NULL OR "outbox_tenant"."mongo_url_env" IS NULL),
	CONSTRAINT "outbox_tenant_weight_positive" CHECK ("outbox_tenant"."weight" BETWEEN 1 AND 100)
);
