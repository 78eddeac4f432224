"""What goes to many: contacts, hamlets, groups, reminders, alerts, announcements (not built yet)."""
