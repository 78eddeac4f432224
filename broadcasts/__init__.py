"""What goes to many: contacts, hamlets, groups, reminders and alerts (announcements to come)."""
