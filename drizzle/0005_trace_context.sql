ALTER TABLE "outbox" ADD COLUMN "trace_context" jsonb;--> statement-breakpoint
ALTER TABLE "outbox_delivered" ADD COLUMN "trace_context" jsonb;