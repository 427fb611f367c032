from trio_socketapi import SocketAPI
from routers import users, chat, notifications

app = SocketAPI()

# Include all routers
app.include_router(users.router)
app.include_router(chat.router)
app.include_router(notifications.router)

if __name__ == "__main__":
    import uvicorn
    uvicorn.run(app, host="0.0.0.0", port=8000)
