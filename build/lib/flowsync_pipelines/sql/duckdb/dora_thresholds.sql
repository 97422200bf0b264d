-- DORA performance levels: the one place their thresholds live. Source: Google Cloud DORA,
-- "Accelerate State of DevOps Report 2024" (performance clusters). The report gives each cluster
-- a typical value; a metric is at the best level whose bound it meets:
--   deployment frequency: elite on demand (>= 1 a day), high >= weekly, medium >= monthly;
--   change lead time:     elite < 1 day, high < 1 week, medium < 1 month;
--   change failure rate:  the 2024 cluster values are 5 / 20 / 10 / 40 % (medium below high, not
--                         monotone); as bounds we use the sorted first three: 5 %, 10 %, 20 %;
--   recovery time:        elite < 1 hour, high < 1 day, medium < 1 week (2024 gives medium
--                         "< 1 day" like high; the 2023 report's one week keeps the levels apart).
DELETE FROM dora_thresholds;
INSERT INTO dora_thresholds VALUES
    ('deployment_frequency', 'elite', 1, 1.0, 'Accelerate State of DevOps 2024'),
    ('deployment_frequency', 'high', 2, 1.0 / 7, 'Accelerate State of DevOps 2024'),
    ('deployment_frequency', 'medium', 3, 1.0 / 30, 'Accelerate State of DevOps 2024'),
    ('deployment_frequency', 'low', 4, NULL, 'Accelerate State of DevOps 2024'),
    ('lead_time', 'elite', 1, 24, 'Accelerate State of DevOps 2024'),
    ('lead_time', 'high', 2, 168, 'Accelerate State of DevOps 2024'),
    ('lead_time', 'medium', 3, 720, 'Accelerate State of DevOps 2024'),
    ('lead_time', 'low', 4, NULL, 'Accelerate State of DevOps 2024'),
    ('change_failure_rate', 'elite', 1, 0.05, 'Accelerate State of DevOps 2024'),
    ('change_failure_rate', 'high', 2, 0.10, 'Accelerate State of DevOps 2024'),
    ('change_failure_rate', 'medium', 3, 0.20, 'Accelerate State of DevOps 2024'),
    ('change_failure_rate', 'low', 4, NULL, 'Accelerate State of DevOps 2024'),
    ('recovery_time', 'elite', 1, 1, 'Accelerate State of DevOps 2024'),
    ('recovery_time', 'high', 2, 24, 'Accelerate State of DevOps 2024'),
    ('recovery_time', 'medium', 3, 168, 'Accelerate State of DevOps 2024'),
    ('recovery_time', 'low', 4, NULL, 'Accelerate State of DevOps 2024');
