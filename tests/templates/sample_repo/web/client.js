function loadUser(id, callback) {
  fetch("/api/users/" + id)
    .then((response) => response.json())
    .then((user) => callback(null, user))
    .catch((error) => callback(error));
}

module.exports = { loadUser };
