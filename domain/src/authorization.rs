//! Role-based access control: named permissions, and the role hierarchy that grants them.
//!
//! ADMIN > ECMO_SPECIALIST > PHYSICIAN > NURSE > PATIENT: a role has every permission of the
//! roles below it. Each operation of the API declares the one permission it needs.

use std::fmt;

use crate::user::Role;

impl Role {
    /// Position in the hierarchy; a higher rank includes every lower one.
    pub fn rank(self) -> u8 {
        match self {
            Role::Patient => 0,
            Role::Nurse => 1,
            Role::Physician => 2,
            Role::EcmoSpecialist => 3,
            Role::Admin => 4,
        }
    }

    /// Tells whether this role has every permission of `other`.
    pub fn includes(self, other: Role) -> bool {
        self.rank() >= other.rank()
    }

    pub fn has(self, permission: Permission) -> bool {
        self.includes(permission.minimum_role())
    }
}

/// A permission an operation can require.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Read one's own profile and sessions.
    ProfileRead,
    /// Change one's own name, password and sessions.
    ProfileUpdate,
    /// Read patient vital signs (NURSE and above); declared for resource servers.
    VitalsRead,
    /// Read patient records, predictions and alerts (PHYSICIAN and above).
    PatientsRead,
    /// Break-glass access to a patient's data (PHYSICIAN and above).
    EmergencyAccess,
    /// ECMO-specific features (ECMO_SPECIALIST and above); declared for resource servers.
    EcmoManage,
    /// List and read user accounts.
    UsersRead,
    /// Create users and change their role, status, lockout and sessions.
    UsersManage,
    /// Read and export the audit trail, and verify its hash chain.
    AuditRead,
    /// Review and end emergency-access grants.
    EmergencyReview,
}

impl Permission {
    pub const ALL: [Permission; 10] = [
        Permission::ProfileRead,
        Permission::ProfileUpdate,
        Permission::VitalsRead,
        Permission::PatientsRead,
        Permission::EmergencyAccess,
        Permission::EcmoManage,
        Permission::UsersRead,
        Permission::UsersManage,
        Permission::AuditRead,
        Permission::EmergencyReview,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::ProfileRead => "profile:read",
            Permission::ProfileUpdate => "profile:update",
            Permission::VitalsRead => "vitals:read",
            Permission::PatientsRead => "patients:read",
            Permission::EmergencyAccess => "emergency:access",
            Permission::EcmoManage => "ecmo:manage",
            Permission::UsersRead => "users:read",
            Permission::UsersManage => "users:manage",
            Permission::AuditRead => "audit:read",
            Permission::EmergencyReview => "emergency:review",
        }
    }

    /// Returns the least privileged role that has this permission.
    pub fn minimum_role(self) -> Role {
        match self {
            Permission::ProfileRead | Permission::ProfileUpdate => Role::Patient,
            Permission::VitalsRead => Role::Nurse,
            Permission::PatientsRead | Permission::EmergencyAccess => Role::Physician,
            Permission::EcmoManage => Role::EcmoSpecialist,
            Permission::UsersRead | Permission::UsersManage | Permission::AuditRead | Permission::EmergencyReview => {
                Role::Admin
            }
        }
    }

    /// Lists every permission a role has.
    pub fn granted_to(role: Role) -> Vec<Permission> {
        Self::ALL
            .into_iter()
            .filter(|permission| role.has(*permission))
            .collect()
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn higher_roles_include_lower_ones() {
        for (index, role) in Role::ALL.iter().enumerate() {
            for lower in &Role::ALL[index..] {
                assert!(role.includes(*lower), "{role} includes {lower}");
            }
            for higher in &Role::ALL[..index] {
                assert!(!role.includes(*higher), "{role} does not include {higher}");
            }
        }
    }

    #[test]
    fn a_role_has_every_permission_of_the_roles_below() {
        for role in Role::ALL {
            for lower in Role::ALL.into_iter().filter(|lower| role.includes(*lower)) {
                for permission in Permission::granted_to(lower) {
                    assert!(role.has(permission), "{role} has {permission} through {lower}");
                }
            }
        }
    }

    #[test]
    fn emergency_access_is_for_physicians_and_above() {
        assert!(Role::Physician.has(Permission::EmergencyAccess));
        assert!(Role::EcmoSpecialist.has(Permission::EmergencyAccess));
        assert!(!Role::Nurse.has(Permission::EmergencyAccess));
        assert!(!Role::Patient.has(Permission::EmergencyAccess));
        assert!(!Role::EcmoSpecialist.has(Permission::UsersManage));
    }
}
