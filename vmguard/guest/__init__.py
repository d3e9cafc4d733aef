"""Inside the guest: users, logins, software and services, read without trusting it."""
