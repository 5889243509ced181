CREATE TABLE "audit_log" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"at" timestamp with time zone DEFAULT now() NOT NULL,
	"actor" text NOT NULL,
	"action" text NOT NULL,
	"target" text NOT NULL,
	"reason" text,
	"details" jsonb,
	CONSTRAINT "audit_log_action_valid" CHECK ("audit_log"."action" IN ('requeue', 'pause', 'resume', 'reconcile', 'repair'))
);
--> statement-breakpoint
CREATE TABLE "relay_pause" (
	"scope" text PRIMARY KEY NOT NULL,
	"reason" text NOT NULL,
	"paused_by" text NOT NULL,
	"paused_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "relay_pause_scope_valid" CHECK ("relay_pause"."scope" = '*' OR "relay_pause"."scope" ~ '^[a-z][a-z0-9_]{0,47}$')
);
--> statement-breakpoint
ALTER TABLE "reconcile_run" ADD COLUMN "run_id" uuid;--> statement-breakpoint
ALTER TABLE "reconcile_run" ADD COLUMN "report" jsonb;--> statement-breakpoint
ALTER TABLE "reconcile_run" ADD COLUMN "error" text;--> statement-breakpoint
CREATE INDEX "audit_log_at_idx" ON "audit_log" USING btree ("at");--> statement-breakpoint
CREATE UNIQUE INDEX "reconcile_run_run_id_key" ON "reconcile_run" USING btree ("run_id");