-- The pseudonymous identities table (identity/store.py replaces its rows).
CREATE TABLE IF NOT EXISTS identities (
    pseudonym  VARCHAR PRIMARY KEY,  -- account pseudonym, as in signals.actor
    source     VARCHAR NOT NULL,
    person     VARCHAR NOT NULL,     -- person pseudonym shared by all accounts of one person
    confidence DOUBLE NOT NULL,      -- 0..1, that this account belongs to this person
    method     VARCHAR NOT NULL      -- override | configured | verified_email | noreply_email |
                                     -- same_login | same_name | login_name_form |
                                     -- name_email_similarity | co_activity | singleton
);
