ALTER TABLE "outbox_tenant" ADD COLUMN "lag_sample" jsonb;--> statement-breakpoint
ALTER TABLE "outbox_tenant" ADD COLUMN "lag_sampled_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "outbox_tenant" ADD COLUMN "lag_sampled_by" text;