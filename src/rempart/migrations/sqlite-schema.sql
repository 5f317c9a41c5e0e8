-- rempart schema snapshot: {"migrations": ["0001_foundation.py", "0002_lawful_disclosure.py", "0003_public_search.py", "0004_moderation.py", "0005_review_media_and_signal_sources.py", "0006_reports.py", "0007_transparency.py", "0008_web_sign_in.py", "0009_platform_adapters.py", "0010_issue14legal.py", "0011_issue14auth.py", "0012_issue17reports.py", "0013_issue15load.py", "0014_transparency_dataset.py", "0017_issue19b.py", "0018_issue22a.py", "0019_issue22b.py", "0020_issue16ports.py", "0021_order_items_by_ref.py", "0022_i21_dsa.py", "0023_i15_proofs.py", "0024_model_version_width.py"]}
CREATE TABLE alembic_version (
	version_num VARCHAR(32) NOT NULL, 
	CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
)
;
CREATE TABLE account_identities (
	id INTEGER NOT NULL, 
	user_id VARCHAR(128) NOT NULL, 
	valid_from DATETIME NOT NULL, 
	username VARCHAR(64), 
	phone_ciphertext BLOB, 
	phone_index BLOB, 
	phone_country VARCHAR(2), 
	event_id VARCHAR(128) NOT NULL, 
	CONSTRAINT pk_account_identities PRIMARY KEY (id)
)
;
CREATE INDEX ix_account_identities_phone_index ON account_identities (phone_index)
;
CREATE INDEX ix_account_identities_user_valid_from ON account_identities (user_id, valid_from)
;
CREATE INDEX ix_account_identities_username ON account_identities (username)
;
CREATE TABLE accounts (
	id INTEGER NOT NULL, 
	user_id VARCHAR(128) NOT NULL, 
	username VARCHAR(64), 
	phone_ciphertext BLOB, 
	phone_index BLOB, 
	phone_country VARCHAR(2), 
	synthetic BOOLEAN NOT NULL, 
	registered_at DATETIME NOT NULL, 
	state_at DATETIME NOT NULL, 
	CONSTRAINT pk_accounts PRIMARY KEY (id), 
	CONSTRAINT uq_accounts_user_id UNIQUE (user_id)
)
;
CREATE INDEX ix_accounts_phone_index ON accounts (phone_index)
;
CREATE INDEX ix_accounts_username ON accounts (username)
;
CREATE TABLE audit_entries (
	seq BIGINT NOT NULL, 
	action VARCHAR(64) NOT NULL, 
	recorded_at DATETIME NOT NULL, 
	body TEXT NOT NULL, 
	leaf_hash BLOB NOT NULL, target TEXT, 
	CONSTRAINT pk_audit_entries PRIMARY KEY (seq)
)
;
CREATE INDEX ix_audit_entries_action ON audit_entries (action)
;
CREATE INDEX ix_audit_entries_recorded_at ON audit_entries (recorded_at)
;
CREATE TABLE audit_heads (
	tree_size BIGINT NOT NULL, 
	root_hash BLOB NOT NULL, 
	timestamp_ms BIGINT NOT NULL, 
	signature BLOB NOT NULL, 
	frontier TEXT NOT NULL, 
	CONSTRAINT pk_audit_heads PRIMARY KEY (tree_size)
)
;
CREATE TABLE audit_tail (
	id INTEGER NOT NULL, 
	size BIGINT NOT NULL, 
	CONSTRAINT pk_audit_tail PRIMARY KEY (id)
)
;
CREATE TABLE connections (
	id INTEGER NOT NULL, 
	user_id VARCHAR(128) NOT NULL, 
	ip_ciphertext BLOB NOT NULL, 
	ip_index BLOB NOT NULL, 
	network_index BLOB NOT NULL, 
	port INTEGER, 
	seen_at DATETIME NOT NULL, 
	user_agent VARCHAR(512), 
	CONSTRAINT pk_connections PRIMARY KEY (id)
)
;
CREATE INDEX ix_connections_user_seen_at ON connections (user_id, seen_at)
;
CREATE TABLE entities (
	id INTEGER NOT NULL, 
	entity_id VARCHAR(128) NOT NULL, 
	kind VARCHAR(16) NOT NULL, 
	username VARCHAR(64), 
	title VARCHAR(256) NOT NULL, 
	description TEXT, 
	owner_user_id VARCHAR(128), 
	member_count INTEGER, 
	published_at DATETIME NOT NULL, 
	state_at DATETIME NOT NULL, 
	deleted_at DATETIME, 
	CONSTRAINT pk_entities PRIMARY KEY (id), 
	CONSTRAINT uq_entities_entity_id UNIQUE (entity_id)
)
;
CREATE INDEX ix_entities_owner_user_id ON entities (owner_user_id)
;
CREATE INDEX ix_entities_username ON entities (username)
;
CREATE TABLE ingested_events (
	event_id VARCHAR(128) NOT NULL, 
	event_type VARCHAR(32) NOT NULL, 
	batch_id VARCHAR(40) NOT NULL, 
	received_at DATETIME NOT NULL, 
	CONSTRAINT pk_ingested_events PRIMARY KEY (event_id)
)
 WITHOUT ROWID
;
CREATE TABLE jobs (
	id INTEGER NOT NULL, 
	kind VARCHAR(64) NOT NULL, 
	payload JSON NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	attempts INTEGER NOT NULL, 
	run_after DATETIME NOT NULL, 
	locked_until DATETIME, 
	last_error TEXT, 
	created_at DATETIME NOT NULL, 
	finished_at DATETIME, 
	CONSTRAINT pk_jobs PRIMARY KEY (id)
)
;
CREATE INDEX ix_jobs_status_run_after ON jobs (status, run_after)
;
CREATE TABLE legal_holds (
	id INTEGER NOT NULL, 
	user_id VARCHAR(128) NOT NULL, 
	period_start DATETIME NOT NULL, 
	period_end DATETIME NOT NULL, 
	expires_at DATETIME NOT NULL, 
	reference VARCHAR(128) NOT NULL, 
	created_at DATETIME NOT NULL, 
	CONSTRAINT pk_legal_holds PRIMARY KEY (id)
)
;
CREATE INDEX ix_legal_holds_user_id ON legal_holds (user_id)
;
CREATE TABLE post_media (
	id INTEGER NOT NULL, 
	post_id VARCHAR(128) NOT NULL, 
	position SMALLINT NOT NULL, 
	sha256 VARCHAR(64), 
	md5 VARCHAR(32), 
	pdq VARCHAR(64), 
	pdq_quality SMALLINT, 
	status VARCHAR(16) NOT NULL, 
	CONSTRAINT pk_post_media PRIMARY KEY (id)
)
;
CREATE INDEX ix_post_media_md5 ON post_media (md5)
;
CREATE INDEX ix_post_media_post_id ON post_media (post_id)
;
CREATE INDEX ix_post_media_sha256 ON post_media (sha256)
;
CREATE TABLE posts (
	id INTEGER NOT NULL, 
	post_id VARCHAR(128) NOT NULL, 
	entity_id VARCHAR(128) NOT NULL, 
	text TEXT, 
	language VARCHAR(16), 
	published_at DATETIME NOT NULL, 
	edited_at DATETIME, 
	state_at DATETIME NOT NULL, 
	deleted_at DATETIME, author_user_id VARCHAR(128), 
	CONSTRAINT pk_posts PRIMARY KEY (id), 
	CONSTRAINT uq_posts_post_id UNIQUE (post_id)
)
;
CREATE INDEX ix_posts_entity_id ON posts (entity_id)
;
CREATE TABLE principals (
	id INTEGER NOT NULL, 
	name VARCHAR(128) NOT NULL, 
	role VARCHAR(16) NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	created_at DATETIME NOT NULL, 
	CONSTRAINT pk_principals PRIMARY KEY (id), 
	CONSTRAINT uq_principals_name UNIQUE (name)
)
;
CREATE TABLE schedule_state (
	name VARCHAR(64) NOT NULL, 
	last_run_at DATETIME NOT NULL, 
	CONSTRAINT pk_schedule_state PRIMARY KEY (name)
)
;
CREATE TABLE api_tokens (
	id INTEGER NOT NULL, 
	principal_id INTEGER NOT NULL, 
	token_hash BLOB NOT NULL, 
	prefix VARCHAR(16) NOT NULL, 
	created_at DATETIME NOT NULL, 
	expires_at DATETIME, 
	revoked_at DATETIME, 
	CONSTRAINT pk_api_tokens PRIMARY KEY (id), 
	CONSTRAINT fk_api_tokens_principal_id_principals FOREIGN KEY(principal_id) REFERENCES principals (id), 
	CONSTRAINT uq_api_tokens_token_hash UNIQUE (token_hash)
)
;
CREATE INDEX ix_api_tokens_principal_id ON api_tokens (principal_id)
;
CREATE TABLE pending_images (
	media_id INTEGER NOT NULL, 
	content BLOB NOT NULL, 
	CONSTRAINT pk_pending_images PRIMARY KEY (media_id), 
	CONSTRAINT fk_pending_images_media_id_post_media FOREIGN KEY(media_id) REFERENCES post_media (id) ON DELETE CASCADE
)
;
CREATE TABLE protected_accounts (
	user_id VARCHAR(128) NOT NULL, 
	category VARCHAR(16) NOT NULL, 
	marked_at DATETIME NOT NULL, 
	CONSTRAINT pk_protected_accounts PRIMARY KEY (user_id)
)
;
CREATE TABLE authorities (
	id INTEGER NOT NULL, 
	code VARCHAR(64) NOT NULL, 
	name VARCHAR(256) NOT NULL, 
	country VARCHAR(2) NOT NULL, 
	kind VARCHAR(32) NOT NULL, 
	parent_id INTEGER, 
	contact VARCHAR(256), 
	timezone VARCHAR(64) NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	principal_id INTEGER, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, contact_changed_at DATETIME, competences JSON DEFAULT '[]' NOT NULL, 
	CONSTRAINT pk_authorities PRIMARY KEY (id), 
	CONSTRAINT fk_authorities_parent_id_authorities FOREIGN KEY(parent_id) REFERENCES authorities (id), 
	CONSTRAINT fk_authorities_principal_id_principals FOREIGN KEY(principal_id) REFERENCES principals (id), 
	CONSTRAINT uq_authorities_code UNIQUE (code), 
	CONSTRAINT uq_authorities_principal_id UNIQUE (principal_id)
)
;
CREATE INDEX ix_authorities_country ON authorities (country)
;
CREATE TABLE authority_keys (
	id INTEGER NOT NULL, 
	authority_id INTEGER NOT NULL, 
	kid VARCHAR(128) NOT NULL, 
	public_key BLOB NOT NULL, 
	valid_from DATETIME NOT NULL, 
	valid_until DATETIME, 
	revoked_at DATETIME, 
	created_at DATETIME NOT NULL, 
	CONSTRAINT pk_authority_keys PRIMARY KEY (id), 
	CONSTRAINT fk_authority_keys_authority_id_authorities FOREIGN KEY(authority_id) REFERENCES authorities (id), 
	CONSTRAINT uq_authority_keys_kid UNIQUE (kid)
)
;
CREATE INDEX ix_authority_keys_authority_id ON authority_keys (authority_id)
;
CREATE TABLE legal_orders (
	id INTEGER NOT NULL, 
	reference VARCHAR(32) NOT NULL, 
	authority_id INTEGER NOT NULL, 
	validating_authority_id INTEGER, 
	kid VARCHAR(128) NOT NULL, 
	jti VARCHAR(128) NOT NULL, 
	order_type VARCHAR(16) NOT NULL, 
	country VARCHAR(2) NOT NULL, 
	case_reference VARCHAR(128) NOT NULL, 
	legal_basis TEXT NOT NULL, 
	offence_category VARCHAR(32) NOT NULL, 
	offence_description TEXT NOT NULL, 
	max_penalty_years INTEGER, 
	violates_terms BOOLEAN NOT NULL, 
	requested_categories JSON NOT NULL, 
	category_outcomes JSON NOT NULL, 
	period_start DATETIME NOT NULL, 
	period_end DATETIME NOT NULL, 
	emergency BOOLEAN NOT NULL, 
	emergency_justification TEXT, 
	confidential_until DATETIME, 
	preservation_reference VARCHAR(128), 
	document_sha256 VARCHAR(64) NOT NULL, 
	jws_ciphertext BLOB NOT NULL, 
	status VARCHAR(24) NOT NULL, 
	risk_flags JSON NOT NULL, 
	refusal JSON, 
	received_at DATETIME NOT NULL, 
	due_at DATETIME NOT NULL, 
	acknowledged_at DATETIME, 
	decided_at DATETIME, 
	effected_at DATETIME, 
	closed_at DATETIME, 
	withdrawn_at DATETIME, 
	overdue_flagged_at DATETIME, 
	validation_due_at DATETIME, 
	validated_at DATETIME, 
	validation_flagged_at DATETIME, 
	hold_expires_at DATETIME, 
	hold_extended BOOLEAN NOT NULL, emergency_ground VARCHAR(48), validation_kid VARCHAR(128), second_review_due_at DATETIME, second_reviewed_at DATETIME, confirmation VARCHAR(16), confirmation_flagged_at DATETIME, on_hold_reason VARCHAR(32), on_hold_since DATETIME, 
	CONSTRAINT pk_legal_orders PRIMARY KEY (id), 
	CONSTRAINT fk_legal_orders_authority_id_authorities FOREIGN KEY(authority_id) REFERENCES authorities (id), 
	CONSTRAINT fk_legal_orders_validating_authority_id_authorities FOREIGN KEY(validating_authority_id) REFERENCES authorities (id), 
	CONSTRAINT uq_legal_orders_authority_id UNIQUE (authority_id, jti), 
	CONSTRAINT uq_legal_orders_reference UNIQUE (reference)
)
;
CREATE INDEX ix_legal_orders_authority_id ON legal_orders (authority_id)
;
CREATE INDEX ix_legal_orders_country ON legal_orders (country)
;
CREATE INDEX ix_legal_orders_due_at ON legal_orders (due_at)
;
CREATE INDEX ix_legal_orders_status ON legal_orders (status)
;
CREATE TABLE legal_disclosures (
	order_id INTEGER NOT NULL, 
	package_ciphertext BLOB NOT NULL, 
	sha256 VARCHAR(64) NOT NULL, 
	released_by INTEGER NOT NULL, 
	released_at DATETIME NOT NULL, 
	downloads INTEGER NOT NULL, 
	CONSTRAINT pk_legal_disclosures PRIMARY KEY (order_id), 
	CONSTRAINT fk_legal_disclosures_order_id_legal_orders FOREIGN KEY(order_id) REFERENCES legal_orders (id), 
	CONSTRAINT fk_legal_disclosures_released_by_principals FOREIGN KEY(released_by) REFERENCES principals (id)
)
;
CREATE TABLE legal_notifications (
	id INTEGER NOT NULL, 
	order_id INTEGER NOT NULL, 
	user_id VARCHAR(128) NOT NULL, 
	due_at DATETIME NOT NULL, 
	sent_at DATETIME, 
	CONSTRAINT pk_legal_notifications PRIMARY KEY (id), 
	CONSTRAINT fk_legal_notifications_order_id_legal_orders FOREIGN KEY(order_id) REFERENCES legal_orders (id), 
	CONSTRAINT uq_legal_notifications_order_id UNIQUE (order_id, user_id)
)
;
CREATE INDEX ix_legal_notifications_pending ON legal_notifications (sent_at, due_at)
;
CREATE TABLE legal_order_checks (
	id INTEGER NOT NULL, 
	order_id INTEGER NOT NULL, 
	name VARCHAR(48) NOT NULL, 
	outcome VARCHAR(16) NOT NULL, 
	detail TEXT NOT NULL, 
	checked_at DATETIME NOT NULL, code VARCHAR(48), 
	CONSTRAINT pk_legal_order_checks PRIMARY KEY (id), 
	CONSTRAINT fk_legal_order_checks_order_id_legal_orders FOREIGN KEY(order_id) REFERENCES legal_orders (id)
)
;
CREATE INDEX ix_legal_order_checks_order_id ON legal_order_checks (order_id)
;
CREATE TABLE legal_order_documents (
	order_id INTEGER NOT NULL, 
	media_type VARCHAR(64) NOT NULL, 
	size INTEGER NOT NULL, 
	ciphertext BLOB NOT NULL, 
	CONSTRAINT pk_legal_order_documents PRIMARY KEY (order_id), 
	CONSTRAINT fk_legal_order_documents_order_id_legal_orders FOREIGN KEY(order_id) REFERENCES legal_orders (id)
)
;
CREATE TABLE legal_order_targets (
	id INTEGER NOT NULL, 
	order_id INTEGER NOT NULL, 
	position INTEGER NOT NULL, 
	kind VARCHAR(16) NOT NULL, 
	value_ciphertext BLOB NOT NULL, 
	resolution VARCHAR(16) NOT NULL, 
	user_id VARCHAR(128), 
	protected_category VARCHAR(16), 
	approved BOOLEAN, 
	CONSTRAINT pk_legal_order_targets PRIMARY KEY (id), 
	CONSTRAINT fk_legal_order_targets_order_id_legal_orders FOREIGN KEY(order_id) REFERENCES legal_orders (id)
)
;
CREATE INDEX ix_legal_order_targets_order_id ON legal_order_targets (order_id)
;
CREATE INDEX ix_legal_order_targets_user_id ON legal_order_targets (user_id)
;
CREATE TABLE legal_reviews (
	id INTEGER NOT NULL, 
	order_id INTEGER NOT NULL, 
	reviewer_id INTEGER NOT NULL, 
	decision VARCHAR(16) NOT NULL, 
	approved_categories JSON NOT NULL, 
	approved_targets JSON NOT NULL, 
	checklist JSON NOT NULL, 
	reasons TEXT NOT NULL, 
	refusal_grounds JSON NOT NULL, 
	risk_flags JSON NOT NULL, 
	created_at DATETIME NOT NULL, 
	CONSTRAINT pk_legal_reviews PRIMARY KEY (id), 
	CONSTRAINT fk_legal_reviews_order_id_legal_orders FOREIGN KEY(order_id) REFERENCES legal_orders (id), 
	CONSTRAINT fk_legal_reviews_reviewer_id_principals FOREIGN KEY(reviewer_id) REFERENCES principals (id), 
	CONSTRAINT uq_legal_reviews_order_id UNIQUE (order_id, reviewer_id)
)
;
CREATE TRIGGER legal_reviews_by_legal BEFORE INSERT ON legal_reviews
    WHEN (SELECT role FROM principals WHERE id = NEW.reviewer_id) IS NOT 'legal'
    BEGIN SELECT RAISE(ABORT, 'four_eyes: only legal reviewers may review orders'); END
;
CREATE TRIGGER legal_disclosures_four_eyes BEFORE INSERT ON legal_disclosures
    WHEN (SELECT COUNT(DISTINCT reviewer_id) FROM legal_reviews
          WHERE order_id = NEW.order_id AND decision = 'approve')
         < (CASE WHEN (SELECT emergency FROM legal_orders WHERE id = NEW.order_id) THEN 1
                 ELSE 2 END)
    BEGIN SELECT RAISE(ABORT, 'four_eyes: a disclosure needs two approvals by two reviewers');
    END
;
CREATE TABLE search_documents (
	id INTEGER NOT NULL, 
	kind VARCHAR(8) NOT NULL, 
	ref VARCHAR(128) NOT NULL, 
	entity_id VARCHAR(128) NOT NULL, 
	title VARCHAR(256), 
	body TEXT, 
	language VARCHAR(16), 
	reach INTEGER NOT NULL, 
	published_at DATETIME NOT NULL, 
	terms TEXT NOT NULL, 
	CONSTRAINT pk_search_documents PRIMARY KEY (id), 
	CONSTRAINT uq_search_documents_kind UNIQUE (kind, ref)
)
;
CREATE INDEX ix_search_documents_entity_id ON search_documents (entity_id)
;
CREATE TABLE search_protected_query_counts (
	day DATE NOT NULL, 
	list_id VARCHAR(32) NOT NULL, 
	language VARCHAR(8) NOT NULL, 
	count INTEGER NOT NULL, 
	CONSTRAINT pk_search_protected_query_counts PRIMARY KEY (day, list_id, language)
)
;
CREATE VIRTUAL TABLE search_fts USING fts5(terms, content='search_documents', content_rowid='id', tokenize='unicode61 remove_diacritics 0')
;
CREATE TRIGGER search_documents_ai AFTER INSERT ON search_documents BEGIN INSERT INTO search_fts(rowid, terms) VALUES (new.id, new.terms); END
;
CREATE TRIGGER search_documents_ad AFTER DELETE ON search_documents BEGIN INSERT INTO search_fts(search_fts, rowid, terms) VALUES ('delete', old.id, old.terms); END
;
CREATE TRIGGER search_documents_au AFTER UPDATE ON search_documents BEGIN INSERT INTO search_fts(search_fts, rowid, terms) VALUES ('delete', old.id, old.terms); INSERT INTO search_fts(rowid, terms) VALUES (new.id, new.terms); END
;
CREATE TABLE bank_hashes (
	id INTEGER NOT NULL, 
	bank VARCHAR(64) NOT NULL, 
	category VARCHAR(24) NOT NULL, 
	source VARCHAR(256) NOT NULL, 
	algorithm VARCHAR(8) NOT NULL, 
	value VARCHAR(64) NOT NULL, 
	created_at DATETIME NOT NULL, 
	CONSTRAINT pk_bank_hashes PRIMARY KEY (id), 
	CONSTRAINT uq_bank_hashes_bank UNIQUE (bank, algorithm, value)
)
;
CREATE INDEX ix_bank_hashes_lookup ON bank_hashes (algorithm, value)
;
CREATE TABLE moderation_decisions (
	id INTEGER NOT NULL, 
	item_id INTEGER NOT NULL, 
	moderator_id INTEGER, 
	action VARCHAR(24) NOT NULL, 
	category VARCHAR(24) NOT NULL, 
	ground_type VARCHAR(16) NOT NULL, 
	ground VARCHAR(500) NOT NULL, 
	explanation TEXT NOT NULL, 
	automation VARCHAR(16) NOT NULL, 
	signals JSON NOT NULL, 
	created_at DATETIME NOT NULL, 
	CONSTRAINT pk_moderation_decisions PRIMARY KEY (id), 
	CONSTRAINT fk_moderation_decisions_item_id_moderation_items FOREIGN KEY(item_id) REFERENCES moderation_items (id), 
	CONSTRAINT fk_moderation_decisions_moderator_id_principals FOREIGN KEY(moderator_id) REFERENCES principals (id)
)
;
CREATE INDEX ix_moderation_decisions_item_id ON moderation_decisions (item_id)
;
CREATE TABLE statements_of_reasons (
	id INTEGER NOT NULL, 
	decision_id INTEGER NOT NULL, 
	puid VARCHAR(64) NOT NULL, 
	payload JSON NOT NULL, 
	created_at DATETIME NOT NULL, 
	sent_to_owner_at DATETIME, dsa_submitted_at DATETIME, dsa_error TEXT, 
	CONSTRAINT pk_statements_of_reasons PRIMARY KEY (id), 
	CONSTRAINT fk_statements_of_reasons_decision_id_moderation_decisions FOREIGN KEY(decision_id) REFERENCES moderation_decisions (id), 
	CONSTRAINT uq_statements_of_reasons_decision_id UNIQUE (decision_id), 
	CONSTRAINT uq_statements_of_reasons_puid UNIQUE (puid)
)
;
CREATE TABLE review_media (
	media_id INTEGER NOT NULL, 
	preview BLOB NOT NULL, 
	original BLOB NOT NULL, 
	kept_until DATETIME NOT NULL, 
	CONSTRAINT pk_review_media PRIMARY KEY (media_id), 
	CONSTRAINT fk_review_media_media_id_post_media FOREIGN KEY(media_id) REFERENCES post_media (id) ON DELETE CASCADE
)
;
CREATE INDEX ix_review_media_kept_until ON review_media (kept_until)
;
CREATE TABLE account_standings (
	user_id VARCHAR(128) NOT NULL, 
	manifestly_illegal INTEGER NOT NULL, 
	warned_at DATETIME, 
	suspended_until DATETIME, 
	updated_at DATETIME NOT NULL, 
	CONSTRAINT pk_account_standings PRIMARY KEY (user_id)
)
;
CREATE TABLE bot_conversations (
	"key" BLOB NOT NULL, 
	language VARCHAR(2) NOT NULL, 
	target_kind VARCHAR(8), 
	target_ref VARCHAR(128), 
	category VARCHAR(24), 
	explanation TEXT, 
	updated_at DATETIME NOT NULL, 
	CONSTRAINT pk_bot_conversations PRIMARY KEY ("key")
)
;
CREATE TABLE rate_windows (
	"key" BLOB NOT NULL, 
	window BIGINT NOT NULL, 
	count INTEGER NOT NULL, 
	CONSTRAINT pk_rate_windows PRIMARY KEY ("key", window)
)
;
CREATE TABLE reporters (
	id INTEGER NOT NULL, 
	kind VARCHAR(16) NOT NULL, 
	identity_index BLOB NOT NULL, 
	contact_ciphertext BLOB, 
	platform_user_id VARCHAR(128), 
	principal_id INTEGER, 
	upheld INTEGER NOT NULL, 
	rejected INTEGER NOT NULL, 
	unfounded INTEGER NOT NULL, 
	warned_at DATETIME, 
	suspended_until DATETIME, 
	created_at DATETIME NOT NULL, 
	CONSTRAINT pk_reporters PRIMARY KEY (id), 
	CONSTRAINT fk_reporters_principal_id_principals FOREIGN KEY(principal_id) REFERENCES principals (id), 
	CONSTRAINT uq_reporters_identity_index UNIQUE (identity_index)
)
;
CREATE TABLE report_notices (
	id INTEGER NOT NULL, 
	kind VARCHAR(32) NOT NULL, 
	reporter_id INTEGER, 
	user_id VARCHAR(128), 
	body JSON NOT NULL, 
	created_at DATETIME NOT NULL, 
	sent_at DATETIME, 
	CONSTRAINT pk_report_notices PRIMARY KEY (id), 
	CONSTRAINT fk_report_notices_reporter_id_reporters FOREIGN KEY(reporter_id) REFERENCES reporters (id)
)
;
CREATE INDEX ix_report_notices_sent_at ON report_notices (sent_at)
;
CREATE TABLE appeal_secrets (
	secret_hash BLOB NOT NULL, 
	decision_id INTEGER NOT NULL, 
	party VARCHAR(8) NOT NULL, 
	user_id VARCHAR(128), 
	reporter_id INTEGER, 
	expires_at DATETIME NOT NULL, 
	CONSTRAINT pk_appeal_secrets PRIMARY KEY (secret_hash), 
	CONSTRAINT fk_appeal_secrets_decision_id_moderation_decisions FOREIGN KEY(decision_id) REFERENCES moderation_decisions (id), 
	CONSTRAINT fk_appeal_secrets_reporter_id_reporters FOREIGN KEY(reporter_id) REFERENCES reporters (id)
)
;
CREATE INDEX ix_appeal_secrets_decision_id ON appeal_secrets (decision_id)
;
CREATE TABLE appeals (
	id INTEGER NOT NULL, 
	tracking_id VARCHAR(32) NOT NULL, 
	decision_id INTEGER NOT NULL, 
	item_id INTEGER NOT NULL, 
	party VARCHAR(8) NOT NULL, 
	user_id VARCHAR(128), 
	reporter_id INTEGER, 
	explanation TEXT NOT NULL, 
	state VARCHAR(8) NOT NULL, 
	outcome VARCHAR(8), 
	first_moderator_id INTEGER, 
	decided_by INTEGER, 
	review_decision_id INTEGER, 
	created_at DATETIME NOT NULL, 
	decided_at DATETIME, 
	notified_at DATETIME, unfounded_at DATETIME, 
	CONSTRAINT pk_appeals PRIMARY KEY (id), 
	CONSTRAINT fk_appeals_decided_by_principals FOREIGN KEY(decided_by) REFERENCES principals (id), 
	CONSTRAINT fk_appeals_decision_id_moderation_decisions FOREIGN KEY(decision_id) REFERENCES moderation_decisions (id), 
	CONSTRAINT fk_appeals_first_moderator_id_principals FOREIGN KEY(first_moderator_id) REFERENCES principals (id), 
	CONSTRAINT fk_appeals_item_id_moderation_items FOREIGN KEY(item_id) REFERENCES moderation_items (id), 
	CONSTRAINT fk_appeals_reporter_id_reporters FOREIGN KEY(reporter_id) REFERENCES reporters (id), 
	CONSTRAINT fk_appeals_review_decision_id_moderation_decisions FOREIGN KEY(review_decision_id) REFERENCES moderation_decisions (id), 
	CONSTRAINT uq_appeals_tracking_id UNIQUE (tracking_id)
)
;
CREATE INDEX ix_appeals_decision_id ON appeals (decision_id)
;
CREATE INDEX ix_appeals_item_id ON appeals (item_id)
;
CREATE TABLE report_cases (
	id INTEGER NOT NULL, 
	target_kind VARCHAR(8) NOT NULL, 
	target_ref VARCHAR(128) NOT NULL, 
	entity_id VARCHAR(128) NOT NULL, 
	state VARCHAR(8) NOT NULL, 
	category VARCHAR(24) NOT NULL, 
	reports INTEGER NOT NULL, 
	reporters INTEGER NOT NULL, 
	credible_reporters FLOAT NOT NULL, 
	trusted_flagger BOOLEAN NOT NULL, 
	priority FLOAT NOT NULL, 
	raid_suspected BOOLEAN NOT NULL, 
	raid_score FLOAT NOT NULL, 
	raid_signals JSON NOT NULL, 
	item_id INTEGER NOT NULL, 
	decision_id INTEGER, 
	first_report_at DATETIME NOT NULL, 
	last_report_at DATETIME NOT NULL, 
	assessed_at DATETIME, 
	decided_at DATETIME, 
	CONSTRAINT pk_report_cases PRIMARY KEY (id), 
	CONSTRAINT fk_report_cases_decision_id_moderation_decisions FOREIGN KEY(decision_id) REFERENCES moderation_decisions (id), 
	CONSTRAINT fk_report_cases_item_id_moderation_items FOREIGN KEY(item_id) REFERENCES moderation_items (id)
)
;
CREATE INDEX ix_report_cases_item ON report_cases (item_id, state)
;
CREATE INDEX ix_report_cases_target ON report_cases (target_kind, target_ref, state)
;
CREATE TABLE transparency_reports (
	id INTEGER NOT NULL, 
	kind VARCHAR(24) NOT NULL, 
	period VARCHAR(8) NOT NULL, 
	tree_size INTEGER NOT NULL, 
	published_at DATETIME NOT NULL, 
	document TEXT NOT NULL, dataset TEXT, 
	CONSTRAINT pk_transparency_reports PRIMARY KEY (id)
)
;
CREATE INDEX ix_transparency_reports_kind_period ON transparency_reports (kind, period)
;
CREATE TABLE web_logins (
	id INTEGER NOT NULL, 
	principal_id INTEGER NOT NULL, 
	username VARCHAR(64) NOT NULL, 
	password_hash VARCHAR(256) NOT NULL, 
	totp_ciphertext BLOB NOT NULL, 
	failed_attempts INTEGER NOT NULL, 
	locked_until DATETIME, 
	last_totp_step INTEGER NOT NULL, 
	created_at DATETIME NOT NULL, status VARCHAR(16) DEFAULT 'active' NOT NULL, 
	CONSTRAINT pk_web_logins PRIMARY KEY (id), 
	CONSTRAINT fk_web_logins_principal_id_principals FOREIGN KEY(principal_id) REFERENCES principals (id), 
	CONSTRAINT uq_web_logins_principal_id UNIQUE (principal_id), 
	CONSTRAINT uq_web_logins_username UNIQUE (username)
)
;
CREATE TABLE web_sessions (
	token_hash BLOB NOT NULL, 
	principal_id INTEGER NOT NULL, 
	created_at DATETIME NOT NULL, 
	last_seen_at DATETIME NOT NULL, 
	expires_at DATETIME NOT NULL, 
	CONSTRAINT pk_web_sessions PRIMARY KEY (token_hash), 
	CONSTRAINT fk_web_sessions_principal_id_principals FOREIGN KEY(principal_id) REFERENCES principals (id)
)
;
CREATE INDEX ix_web_sessions_principal_id ON web_sessions (principal_id)
;
CREATE TABLE adapter_cursors (
	adapter VARCHAR(32) NOT NULL, 
	"key" VARCHAR(300) NOT NULL, 
	value TEXT NOT NULL, 
	updated_at DATETIME NOT NULL, 
	CONSTRAINT pk_adapter_cursors PRIMARY KEY (adapter, "key")
)
;
CREATE TABLE platform_actions (
	id INTEGER NOT NULL, 
	adapter VARCHAR(32) NOT NULL, 
	action VARCHAR(32) NOT NULL, 
	target_kind VARCHAR(16) NOT NULL, 
	target_ref VARCHAR(128) NOT NULL, 
	entity_id VARCHAR(128), 
	item_id INTEGER, 
	decision_id INTEGER, 
	reason VARCHAR(512) NOT NULL, 
	state VARCHAR(16) NOT NULL, 
	due_at DATETIME NOT NULL, 
	attempts INTEGER NOT NULL, 
	last_error VARCHAR(512), 
	details JSON NOT NULL, 
	created_at DATETIME NOT NULL, 
	done_at DATETIME, 
	CONSTRAINT pk_platform_actions PRIMARY KEY (id)
)
;
CREATE INDEX ix_platform_actions_item_id ON platform_actions (item_id)
;
CREATE INDEX ix_platform_actions_state_due_at ON platform_actions (state, due_at)
;
CREATE TABLE legal_callbacks (
	id INTEGER NOT NULL, 
	order_id INTEGER NOT NULL, 
	caller_id INTEGER NOT NULL, 
	contact VARCHAR(256) NOT NULL, 
	called_at DATETIME NOT NULL, 
	person_reached VARCHAR(256) NOT NULL, 
	outcome VARCHAR(16) NOT NULL, 
	notes TEXT NOT NULL, 
	created_at DATETIME NOT NULL, 
	CONSTRAINT pk_legal_callbacks PRIMARY KEY (id), 
	CONSTRAINT fk_legal_callbacks_caller_id_principals FOREIGN KEY(caller_id) REFERENCES principals (id), 
	CONSTRAINT fk_legal_callbacks_order_id_legal_orders FOREIGN KEY(order_id) REFERENCES legal_orders (id)
)
;
CREATE INDEX ix_legal_callbacks_order_id ON legal_callbacks (order_id)
;
CREATE TABLE auth_enrolments (
	id INTEGER NOT NULL, 
	principal_id INTEGER NOT NULL, 
	purpose VARCHAR(16) NOT NULL, 
	code_hash BLOB NOT NULL, 
	partner_hash BLOB, 
	created_by VARCHAR(64) NOT NULL, 
	created_at DATETIME NOT NULL, 
	expires_at DATETIME NOT NULL, 
	redeemed_at DATETIME, 
	CONSTRAINT pk_auth_enrolments PRIMARY KEY (id), 
	CONSTRAINT fk_auth_enrolments_principal_id_principals FOREIGN KEY(principal_id) REFERENCES principals (id), 
	CONSTRAINT uq_auth_enrolments_code_hash UNIQUE (code_hash)
)
;
CREATE INDEX ix_auth_enrolments_principal_id ON auth_enrolments (principal_id)
;
CREATE TABLE auth_grant_proposals (
	id INTEGER NOT NULL, 
	kind VARCHAR(32) NOT NULL, 
	subject VARCHAR(160) NOT NULL, 
	payload TEXT NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	proposed_by INTEGER NOT NULL, 
	proposed_at DATETIME NOT NULL, 
	expires_at DATETIME NOT NULL, 
	decided_by INTEGER, 
	decided_at DATETIME, 
	CONSTRAINT pk_auth_grant_proposals PRIMARY KEY (id), 
	CONSTRAINT fk_auth_grant_proposals_decided_by_principals FOREIGN KEY(decided_by) REFERENCES principals (id), 
	CONSTRAINT fk_auth_grant_proposals_proposed_by_principals FOREIGN KEY(proposed_by) REFERENCES principals (id)
)
;
CREATE INDEX ix_auth_grant_proposals_status ON auth_grant_proposals (status)
;
CREATE TABLE "reports" (
	id INTEGER NOT NULL, 
	tracking_id VARCHAR(32) NOT NULL, 
	target_kind VARCHAR(8) NOT NULL, 
	target_ref VARCHAR(128) NOT NULL, 
	entity_id VARCHAR(128) NOT NULL, 
	case_id INTEGER, 
	reporter_id INTEGER, 
	reporter_kind VARCHAR(16), 
	reporter_index BLOB, 
	reporter_contact BLOB, 
	platform_user_id VARCHAR(128), 
	sender_principal_id INTEGER, 
	channel VARCHAR(16) NOT NULL, 
	category VARCHAR(24) NOT NULL, 
	explanation TEXT NOT NULL, 
	good_faith BOOLEAN NOT NULL, 
	text_simhash BIGINT NOT NULL, 
	network_index BLOB, 
	account_created_at DATETIME, 
	account_connections INTEGER, 
	outcome VARCHAR(16) NOT NULL, 
	created_at DATETIME NOT NULL, 
	notified_at DATETIME, 
	email_domain_index BLOB, 
	email_shape_index BLOB, 
	coordinated BOOLEAN DEFAULT 0 NOT NULL, 
	weight FLOAT, 
	CONSTRAINT pk_reports PRIMARY KEY (id), 
	CONSTRAINT uq_reports_tracking_id UNIQUE (tracking_id), 
	CONSTRAINT fk_reports_sender_principal_id_principals FOREIGN KEY(sender_principal_id) REFERENCES principals (id), 
	CONSTRAINT fk_reports_reporter_id_reporters FOREIGN KEY(reporter_id) REFERENCES reporters (id), 
	CONSTRAINT fk_reports_case_id_report_cases FOREIGN KEY(case_id) REFERENCES report_cases (id)
)
;
CREATE INDEX ix_reports_case_id ON reports (case_id)
;
CREATE INDEX ix_reports_reporter_id ON reports (reporter_id)
;
CREATE INDEX ix_audit_entries_target ON audit_entries (target)
;
CREATE TABLE out_of_court_disputes (
	id INTEGER NOT NULL, 
	tracking_id VARCHAR(32) NOT NULL, 
	settlement_body VARCHAR(200) NOT NULL, 
	decision_id INTEGER, 
	submitted_at DATETIME NOT NULL, 
	decided_at DATETIME, 
	outcome VARCHAR(32), 
	implemented BOOLEAN, 
	CONSTRAINT pk_out_of_court_disputes PRIMARY KEY (id), 
	CONSTRAINT uq_out_of_court_disputes_tracking_id UNIQUE (tracking_id)
)
;
CREATE TABLE moderation_notes (
	id INTEGER NOT NULL, 
	item_id INTEGER NOT NULL, 
	author_id INTEGER NOT NULL, 
	kind VARCHAR(16) NOT NULL, 
	text TEXT NOT NULL, 
	created_at DATETIME NOT NULL, 
	closed_by INTEGER, 
	closed_at DATETIME, 
	closing_note TEXT, 
	CONSTRAINT pk_moderation_notes PRIMARY KEY (id), 
	CONSTRAINT fk_moderation_notes_item_id_moderation_items FOREIGN KEY(item_id) REFERENCES moderation_items (id), 
	CONSTRAINT fk_moderation_notes_author_id_principals FOREIGN KEY(author_id) REFERENCES principals (id), 
	CONSTRAINT fk_moderation_notes_closed_by_principals FOREIGN KEY(closed_by) REFERENCES principals (id)
)
;
CREATE INDEX ix_moderation_notes_item_id ON moderation_notes (item_id)
;
CREATE INDEX ix_moderation_notes_open ON moderation_notes (kind, closed_at)
;
CREATE TABLE reviewer_settings (
	principal_id INTEGER NOT NULL, 
	blur_level INTEGER NOT NULL, 
	greyscale BOOLEAN NOT NULL, 
	daily_reveal_cap INTEGER NOT NULL, 
	updated_at DATETIME NOT NULL, 
	CONSTRAINT pk_reviewer_settings PRIMARY KEY (principal_id), 
	CONSTRAINT fk_reviewer_settings_principal_id_principals FOREIGN KEY(principal_id) REFERENCES principals (id)
)
;
CREATE TABLE preserved_evidence (
	id INTEGER NOT NULL, 
	kind VARCHAR(32) NOT NULL, 
	item_id INTEGER, 
	account_ref VARCHAR(128), 
	legal_basis TEXT NOT NULL, 
	payload_ciphertext BLOB, 
	preserved_at DATETIME NOT NULL, 
	purge_after DATETIME NOT NULL, 
	purged_at DATETIME, 
	CONSTRAINT pk_preserved_evidence PRIMARY KEY (id)
)
;
CREATE INDEX ix_preserved_evidence_item_id ON preserved_evidence (item_id)
;
CREATE INDEX ix_preserved_evidence_purge ON preserved_evidence (purged_at, purge_after)
;
CREATE TABLE legal_order_acts (
	order_id INTEGER NOT NULL, 
	territorial_scope JSON NOT NULL, 
	statement_of_reasons TEXT NOT NULL, 
	delay_informing_owner BOOLEAN NOT NULL, 
	outcome VARCHAR(16) NOT NULL, 
	confirmed_by INTEGER, 
	confirmed_at DATETIME, 
	reasons TEXT, 
	authority_informed_at DATETIME, 
	CONSTRAINT pk_legal_order_acts PRIMARY KEY (order_id), 
	CONSTRAINT fk_legal_order_acts_confirmed_by_principals FOREIGN KEY(confirmed_by) REFERENCES principals (id), 
	CONSTRAINT fk_legal_order_acts_order_id_legal_orders FOREIGN KEY(order_id) REFERENCES legal_orders (id)
)
;
CREATE TABLE legal_order_items (
	id INTEGER NOT NULL, 
	order_id INTEGER NOT NULL, 
	position INTEGER NOT NULL, 
	reference TEXT NOT NULL, 
	kind VARCHAR(8) NOT NULL, 
	ref VARCHAR(128) NOT NULL, 
	entity_id VARCHAR(128) NOT NULL, 
	action VARCHAR(16), 
	acted_at DATETIME, 
	evidence_id INTEGER, 
	CONSTRAINT pk_legal_order_items PRIMARY KEY (id), 
	CONSTRAINT fk_legal_order_items_evidence_id_preserved_evidence FOREIGN KEY(evidence_id) REFERENCES preserved_evidence (id), 
	CONSTRAINT fk_legal_order_items_order_id_legal_orders FOREIGN KEY(order_id) REFERENCES legal_orders (id), 
	CONSTRAINT uq_legal_order_items_order_id UNIQUE (order_id, position)
)
;
CREATE INDEX ix_legal_order_items_order_id ON legal_order_items (order_id)
;
CREATE TABLE threat_escalations (
	id INTEGER NOT NULL, 
	reference VARCHAR(32) NOT NULL, 
	item_id INTEGER NOT NULL, 
	member_state VARCHAR(2), 
	member_state_basis VARCHAR(24) NOT NULL, 
	recipient VARCHAR(80) NOT NULL, 
	payload_ciphertext BLOB NOT NULL, 
	state VARCHAR(12) NOT NULL, 
	escalated_by INTEGER NOT NULL, 
	escalated_at DATETIME NOT NULL, 
	decided_by INTEGER, 
	decided_at DATETIME, 
	decline_reason TEXT, 
	sent_at DATETIME, 
	CONSTRAINT pk_threat_escalations PRIMARY KEY (id), 
	CONSTRAINT fk_threat_escalations_item_id_moderation_items FOREIGN KEY(item_id) REFERENCES moderation_items (id), 
	CONSTRAINT fk_threat_escalations_escalated_by_principals FOREIGN KEY(escalated_by) REFERENCES principals (id), 
	CONSTRAINT fk_threat_escalations_decided_by_principals FOREIGN KEY(decided_by) REFERENCES principals (id), 
	CONSTRAINT uq_threat_escalations_reference UNIQUE (reference)
)
;
CREATE INDEX ix_threat_escalations_item_id ON threat_escalations (item_id)
;
CREATE INDEX ix_threat_escalations_state ON threat_escalations (state, escalated_at)
;
CREATE TABLE hotline_reports (
	id INTEGER NOT NULL, 
	reference VARCHAR(32) NOT NULL, 
	item_id INTEGER NOT NULL, 
	"trigger" VARCHAR(16) NOT NULL, 
	decision_id INTEGER, 
	account_ref VARCHAR(128), 
	matches JSON NOT NULL, 
	state VARCHAR(12) NOT NULL, 
	attempts INTEGER NOT NULL, 
	last_error VARCHAR(512), 
	receipt VARCHAR(128), 
	evidence_id INTEGER, 
	created_at DATETIME NOT NULL, 
	sent_at DATETIME, 
	CONSTRAINT pk_hotline_reports PRIMARY KEY (id), 
	CONSTRAINT fk_hotline_reports_item_id_moderation_items FOREIGN KEY(item_id) REFERENCES moderation_items (id), 
	CONSTRAINT fk_hotline_reports_decision_id_moderation_decisions FOREIGN KEY(decision_id) REFERENCES moderation_decisions (id), 
	CONSTRAINT uq_hotline_reports_item_id UNIQUE (item_id), 
	CONSTRAINT uq_hotline_reports_reference UNIQUE (reference)
)
;
CREATE INDEX ix_hotline_reports_state ON hotline_reports (state, id)
;
CREATE TABLE webhook_deliveries (
	id INTEGER NOT NULL, 
	kind VARCHAR(64) NOT NULL, 
	message_key VARCHAR(160) NOT NULL, 
	channel VARCHAR(16) NOT NULL, 
	body_ciphertext BLOB NOT NULL, 
	state VARCHAR(12) NOT NULL, 
	attempts INTEGER NOT NULL, 
	next_attempt_at DATETIME NOT NULL, 
	last_error VARCHAR(200), 
	created_at DATETIME NOT NULL, 
	delivered_at DATETIME, 
	dead_at DATETIME, 
	CONSTRAINT pk_webhook_deliveries PRIMARY KEY (id)
)
;
CREATE INDEX ix_webhook_deliveries_message_key ON webhook_deliveries (message_key)
;
CREATE INDEX ix_webhook_deliveries_state_next_attempt_at ON webhook_deliveries (state, next_attempt_at)
;
CREATE INDEX ix_legal_order_items_kind_ref ON legal_order_items (kind, ref)
;
CREATE TABLE complainant_standings (
	complainant VARCHAR(160) NOT NULL, 
	counted_from DATETIME, 
	warned_at DATETIME, 
	suspended_until DATETIME, 
	updated_at DATETIME NOT NULL, 
	CONSTRAINT pk_complainant_standings PRIMARY KEY (complainant)
)
;
CREATE TABLE audit_tiles (
	tile INTEGER NOT NULL, 
	hashes BLOB NOT NULL, 
	CONSTRAINT pk_audit_tiles PRIMARY KEY (tile)
)
;
CREATE TABLE "moderation_items" (
	id INTEGER NOT NULL, 
	kind VARCHAR(8) NOT NULL, 
	ref VARCHAR(128) NOT NULL, 
	entity_id VARCHAR(128) NOT NULL, 
	owner_user_id VARCHAR(128), 
	state VARCHAR(16) NOT NULL, 
	pending_review BOOLEAN NOT NULL, 
	queue_reason VARCHAR(24), 
	priority FLOAT NOT NULL, 
	category VARCHAR(24), 
	confidence FLOAT NOT NULL, 
	reach INTEGER NOT NULL, 
	signals JSON NOT NULL, 
	model_version VARCHAR(255) NOT NULL, 
	content_digest VARCHAR(64) NOT NULL, 
	human_decided_at DATETIME, 
	claimed_by INTEGER, 
	claimed_until DATETIME, 
	queued_at DATETIME, 
	updated_at DATETIME NOT NULL, 
	signal_sources VARCHAR(64) DEFAULT ('') NOT NULL, 
	queue_reasons JSON, 
	reason_marks VARCHAR(160) DEFAULT ('') NOT NULL, 
	version INTEGER DEFAULT '0' NOT NULL, 
	CONSTRAINT pk_moderation_items PRIMARY KEY (id), 
	CONSTRAINT uq_moderation_items_kind UNIQUE (kind, ref), 
	CONSTRAINT fk_moderation_items_claimed_by_principals FOREIGN KEY(claimed_by) REFERENCES principals (id)
)
;
CREATE INDEX ix_moderation_items_owner_user_id ON moderation_items (owner_user_id)
;
CREATE INDEX ix_moderation_items_entity_id ON moderation_items (entity_id)
;
CREATE INDEX ix_moderation_items_queue ON moderation_items (pending_review, priority)
;
INSERT INTO alembic_version (version_num) VALUES ('0024_model_version_width')
;
INSERT INTO audit_tail (id, size) VALUES (1,0)
;
