//! Who may do what: account roles, account status and project roles, and the permissions each
//! project role grants. The HTTP layer asks these questions; it never compares role names itself.
//!
//! The model: an account is an `admin` or a `member`. Admins manage accounts and may act on every
//! project as an owner would. Everyone else reaches a project only through a membership whose
//! role is `viewer` (read), `editor` (read and change the project's data and description) or
//! `owner` (all of that, plus managing members and deleting the project).

use serde::{Deserialize, Serialize};

/// An account's role across the whole service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Manages accounts; owner rights on every project.
    Admin,
    /// Reaches projects through memberships only.
    Member,
}

/// Whether an account may sign in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UserStatus {
    /// May sign in.
    Active,
    /// May not sign in; every session was revoked when it was disabled.
    Disabled,
}

/// A member's role inside one project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProjectRole {
    /// Reads the project.
    Viewer,
    /// Reads and changes the project's data.
    Editor,
    /// Everything, including members and deletion.
    Owner,
}

/// Something one can do to a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProjectAction {
    /// See the project and its contents.
    Read,
    /// Change the project's description or data.
    Write,
    /// Add, change or remove members; read the project's audit trail.
    ManageMembers,
    /// Soft-delete the project.
    Delete,
}

macro_rules! text_forms {
    ($type:ty { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $type {
            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The lowercase form used in JSON, the database and logs.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }

            /// Parses the lowercase form.
            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($text => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $type {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_forms!(Role { Admin => "admin", Member => "member" });
text_forms!(UserStatus { Active => "active", Disabled => "disabled" });
text_forms!(ProjectRole { Viewer => "viewer", Editor => "editor", Owner => "owner" });

impl ProjectRole {
    /// Whether this role allows `action`.
    pub fn allows(self, action: ProjectAction) -> bool {
        match action {
            ProjectAction::Read => true,
            ProjectAction::Write => self >= Self::Editor,
            ProjectAction::ManageMembers | ProjectAction::Delete => self == Self::Owner,
        }
    }
}

/// The role an account acts with on a project: an admin acts as an owner everywhere; anyone
/// else acts with their membership's role, and without one does not see the project at all.
pub fn effective_project_role(
    account: Role,
    membership: Option<ProjectRole>,
) -> Option<ProjectRole> {
    match account {
        Role::Admin => Some(ProjectRole::Owner),
        Role::Member => membership,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_roles_grant_increasing_rights() {
        use ProjectAction::*;
        let table = [
            (ProjectRole::Viewer, [true, false, false, false]),
            (ProjectRole::Editor, [true, true, false, false]),
            (ProjectRole::Owner, [true, true, true, true]),
        ];
        for (role, expected) in table {
            let got = [Read, Write, ManageMembers, Delete].map(|action| role.allows(action));
            assert_eq!(got, expected, "{role}");
        }
    }

    #[test]
    fn admins_act_as_owners_and_members_need_a_membership() {
        assert_eq!(
            effective_project_role(Role::Admin, None),
            Some(ProjectRole::Owner)
        );
        assert_eq!(effective_project_role(Role::Member, None), None);
        assert_eq!(
            effective_project_role(Role::Member, Some(ProjectRole::Viewer)),
            Some(ProjectRole::Viewer)
        );
    }

    #[test]
    fn text_forms_round_trip() {
        for role in ProjectRole::ALL {
            assert_eq!(ProjectRole::parse(role.as_str()), Some(*role));
        }
        assert_eq!(Role::parse("Admin"), None, "the forms are lowercase only");
        assert_eq!(UserStatus::parse("disabled"), Some(UserStatus::Disabled));
    }
}
