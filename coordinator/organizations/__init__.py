"""Organizations, clubs, members, invites, group chats, agreements and official channels."""
