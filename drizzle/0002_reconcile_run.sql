CREATE TABLE "reconcile_run" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"started_at" timestamp with time zone NOT NULL,
	"finished_at" timestamp with time zone DEFAULT now() NOT NULL,
	"ok" boolean NOT NULL,
	"problems" jsonb NOT NULL,
	"ran_by" text NOT NULL
);
--> statement-breakpoint
CREATE INDEX "reconcile_run_finished_at_idx" ON "reconcile_run" USING btree ("finished_at");