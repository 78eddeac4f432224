"""What goes to many: contacts, groups, reminders, alerts to confirm, loudspeaker announcements."""
