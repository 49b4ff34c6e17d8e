"""Model builders; each returns an uncompiled ``keras.Model`` (vision: chapters 01-02)."""
