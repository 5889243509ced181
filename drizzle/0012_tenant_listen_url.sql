ALTER TABLE "outbox_tenant" ADD COLUMN "listen_database_url" text;--> statement-breakpoint
ALTER TABLE "outbox_tenant" ADD COLUMN "listen_database_url_env" text;--> statement-breakpoint
ALTER TABLE "outbox_tenant" ADD CONSTRAINT "outbox_tenant_at_most_one_listen_url" CHECK ("outbox_tenant"."listen_database_url" IS NULL OR "outbox_tenant"."listen_database_url_env" IS NULL);